import { printable } from './printable.ts';
import { SHA256SUMS } from './sha256sums.ts';
import type { CustodyRecording, ExportRequest } from './case-export.ts';

// README.txt of a case export (core/case-export.ts): for whoever is handed the bundle without
// Ferry (counsel, a regulator), what it holds and how to check it with their system's tools.

/** The bundle's own explanation, in plain text with Windows line ends (Notepad shows it right; every other reader too). */
export const README = 'README.txt';

/** Which recorder host shipped a call, on its line of the README. */
function shippedByLine(call: Pick<CustodyRecording, 'file' | 'shippedBy'>): string {
  const by = call.shippedBy;
  return `  ${printable(call.file)}: ${by ? `shipped by ${printable(by.host)}${by.agentId ? ` (agent id ${printable(by.agentId)})` : ''}` : 'shipping host not recorded (shipped before Ferry recorded it)'}`;
}

export function bundleReadme(request: Pick<ExportRequest, 'caseId' | 'site' | 'at' | 'principal' | 'reason'>, root: string, calls: readonly Pick<CustodyRecording, 'file' | 'shippedBy'>[]): string {
  const recordings = calls.length;
  const what = request.caseId ? `case ${request.caseId} of site ${request.site}` : `${recordings} call(s) of site ${request.site}`;
  return [
    `Ferry export: ${what}`,
    // The reason an officer typed, and who asked, on their one line whatever they hold (line breaks and
    // bidi controls escaped): a line break in a reason cannot add instructions that read as the bundle's own.
    `Exported ${request.at.toISOString()} (UTC) by ${printable(request.principal)}. Reason given: ${printable(request.reason)}`,
    `${recordings} recording(s).`,
    '',
    'What this folder holds',
    '  recordings/     each recorded call, byte for byte as the recorder wrote it',
    '  metadata/       each call\'s catalogue record (JSON): start, agent, numbers, where it was stored',
    '  custody.json    who asked for this export, when and why; where each recording was read from',
    '  manifest.json   every file with its size and SHA-256 (manifest.csv: the same, for a spreadsheet)',
    `  ${SHA256SUMS}      the same SHA-256 hashes, in the form the sha256sum tool reads`,
    '',
    'Which recorder host shipped each call (each recorder numbers its own calls: after a failover',
    'two calls of one site may have the same call id; custody.json says it too, as shippedBy)',
    ...calls.map(shippedByLine),
    '',
    'How to check that no file was changed since the export',
    `  Linux:    cd ${root} && sha256sum -c ${SHA256SUMS}`,
    `  macOS:    cd ${root} && shasum -a 256 -c ${SHA256SUMS}`,
    '  Windows (PowerShell, in this folder):',
    `    Get-Content -Encoding UTF8 ${SHA256SUMS} | ForEach-Object { $hash, $path = $_ -split '  ', 2; "{0}: {1}" -f $path, $(if ((Get-FileHash -Algorithm SHA256 -LiteralPath $path).Hash -eq $hash) { 'OK' } else { 'FAILED' }) }`,
    '  Every line must end in OK. This file is checked too.',
    '',
    'That the bundle as a whole is the one exported: compare the SHA-256 of the .tar file',
    '(sha256sum FILE.tar, or Get-FileHash FILE.tar) with the hash the exporting organisation',
    'sends separately; it is kept in its audit trail with this export. With Ferry:',
    '  ferry case verify FILE.tar --sha256 HASH',
    '',
  ].join('\r\n');
}
