/** DefaultBinder: binds through the {@link Binder} seam (the API's `pods/NAME/binding` subresource). */
import type { CycleState } from '../cycle-state.js';
import type { BindPlugin, BindResult, FrameworkHandle } from '../framework.js';
import type { PodInfo } from '../pod-info.js';

/** Bind plugin `DefaultBinder`; its result is the Binder's. */
export class DefaultBinder implements BindPlugin {
  readonly name = 'DefaultBinder';
  readonly #handle: FrameworkHandle;

  constructor(handle: FrameworkHandle) {
    this.#handle = handle;
  }

  bind(_state: CycleState, pod: PodInfo, nodeName: string, signal: AbortSignal): Promise<BindResult> {
    return this.#handle.binder.bind(pod.pod, nodeName, signal);
  }
}
