// Names shared by the CDK stack and the embedded local cloud, so the two cannot drift.

export const LOCAL_BUCKET = 'ferry-data';
export const LOCAL_TABLE = 'ferry-catalogue';
export const LOCAL_REGION = 'us-east-1';
export const DEFAULT_API_PORT = 8787;
