// asl-validator 4 ships no type declarations; this is the slice Ferry uses (local runner, tests).
declare module 'asl-validator' {
  interface AslValidationResult {
    isValid: boolean;
    errors: { message: string; [key: string]: unknown }[];
    errorsText(separator?: string): string;
  }
  function aslValidator(definition: unknown, options?: { checkPaths?: boolean; checkArn?: boolean }): AslValidationResult;
  export default aslValidator;
}
