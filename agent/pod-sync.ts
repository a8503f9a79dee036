/**
 * Applies what the controller sends about this node's pods to the pod workers (`DesiredPods`):
 * a snapshot becomes `sync` (level-triggered: pods not in it are gone), changes become `update` and
 * `remove`, and every message's revision becomes the revision the agent has applied — which it
 * acknowledges, and presents on the next Register so the controller can resume after it.
 *
 * It keeps the desired set it has built, so that a stream the controller resumed (changes only, no
 * snapshot) still starts with a `sync` of the full set, as `DesiredPods` promises after every connect.
 */
import type { StoredObject } from '../api/object.js';
import type { Logger } from '../lib/logger.js';
import { ChangeType, type ControllerMessage } from '../proto/gen/berth/v1/agent.js';
import type { DesiredPods } from './pods/pod-manager.js';
import type { ReportQueue } from './report-queue.js';

const decoder = new TextDecoder();

export class PodSync {
  readonly #pods: DesiredPods;
  readonly #reports: ReportQueue;
  readonly #log: Logger;
  #revision = 0;
  readonly #desired = new Map<string, StoredObject>();
  #streamStart = false;

  constructor(opts: { readonly pods: DesiredPods; readonly reports: ReportQueue; readonly logger: Logger }) {
    this.#pods = opts.pods;
    this.#reports = opts.reports;
    this.#log = opts.logger;
  }

  /** The newest revision applied (0 before the first snapshot). */
  get revision(): number {
    return this.#revision;
  }

  /** A new stream begins: its first message is a snapshot, or the controller resumed it. */
  streamStarted(): void {
    this.#streamStart = true;
  }

  /** Applies one message. Malformed pods are logged and skipped; nothing throws. */
  apply(message: ControllerMessage): void {
    const kind = message.kind;
    if (kind === undefined) return;
    if (this.#streamStart) {
      this.#streamStart = false;
      // Resumed: re-affirm what is desired, then apply what was missed.
      if (kind.$case !== 'podSnapshot') this.#pods.sync([...this.#desired.values()]);
    }
    switch (kind.$case) {
      case 'podSnapshot': {
        const pods = kind.podSnapshot.podsJson.map((b) => this.#decode(b)).filter((p) => p !== undefined);
        this.#desired.clear();
        for (const p of pods) this.#desired.set(p.metadata.uid ?? '', p);
        this.#pods.sync(pods);
        this.#reports.retain(new Set(pods.map((p) => p.metadata.uid ?? '')));
        // A snapshot may carry a lower revision than before (the controller's store was replaced).
        this.#revision = kind.podSnapshot.revision;
        return;
      }
      case 'podChange': {
        const change = kind.podChange;
        const pod = this.#decode(change.podJson);
        if (pod !== undefined) {
          const uid = pod.metadata.uid ?? '';
          if (change.type === ChangeType.CHANGE_TYPE_DELETE) {
            this.#desired.delete(uid);
            this.#pods.remove(uid);
            this.#reports.forget(uid);
          } else {
            this.#desired.set(uid, pod);
            this.#pods.update(pod);
          }
        }
        this.#revision = Math.max(this.#revision, change.revision);
        return;
      }
      case 'ping':
        this.#revision = Math.max(this.#revision, kind.ping.revision);
        return;
      case 'nodeConfig':
      case 'streamOpen':
        // Not about pods: the gateway client handles these before they reach here.
        return;
    }
  }

  #decode(bytes: Uint8Array): StoredObject | undefined {
    try {
      const obj = JSON.parse(decoder.decode(bytes)) as StoredObject;
      if (typeof obj.metadata.uid !== 'string') throw new Error('pod has no metadata.uid');
      return obj;
    } catch (err) {
      this.#log.error({ err: (err as Error).message }, 'controller sent a pod that cannot be read; skipped');
      return undefined;
    }
  }
}
