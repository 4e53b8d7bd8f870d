import type { RecordingsSourceConfig } from '../core/config.ts';
import { SIDECAR_FIELDS_UNMATCHED } from '../core/metadata.ts';
import type { Alert } from '../core/ports.ts';

// Sidecars in which none of the configured field paths is found: a recorder upgraded to write its
// metadata under other names. Each call still ships (its time from its file, its issues naming
// it), but the catalogue loses its call ids, agents and numbers until `metadata.sidecar.fields`
// follows the new document; one alert for the pass says so, with what the document now holds.

export class SidecarFieldsTally {
  calls = 0;
  /** Whether the pass shipped a pack (a pass that shipped none says nothing of the sidecars). */
  shipped = false;
  private example: string | undefined;
  private readonly batches: string[] = [];

  /** One shipped batch's metadata issues. */
  see(batch: string, issues: readonly string[]): void {
    this.shipped = true;
    const unmatched = issues.filter((i) => i.includes(`: ${SIDECAR_FIELDS_UNMATCHED} `));
    if (unmatched.length === 0) return;
    this.calls += unmatched.length;
    this.example ??= `${batch}/${unmatched[0]}`;
    if (this.batches.length < 5 && !this.batches.includes(batch)) this.batches.push(batch);
  }

  alert(site: string, source: RecordingsSourceConfig): Omit<Alert, 'key'> | undefined {
    if (this.calls === 0) return undefined;
    return {
      severity: 'warning',
      site,
      subject: `${source.name}: ${this.calls} sidecar(s) hold none of the configured metadata fields`,
      message: `${this.calls} call(s) shipped in this pass (batches ${this.batches.join(', ')}) came with a sidecar in which none of metadata.sidecar.fields is found: they are catalogued without call id, agent or numbers, their time taken from the file. Has the recorder's sidecar format changed (an upgrade)? Map the fields to the new document in the configuration; calls shipped before the change keep what they had. For example: ${this.example}`,
      details: { source: source.name, calls: this.calls, batches: this.batches },
    };
  }
}
