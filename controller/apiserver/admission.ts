/**
 * Kind-specific defaulting and validation for `ResourceStorage`, from api/defaults and api/validation,
 * in Kubernetes' order: defaults first (validation expects defaulted input), then validation.
 */
import { carryOverServiceAllocations } from '../../api/defaults/core.js';
import { applyDefaults } from '../../api/defaults/defaults.js';
import { validateCreate, validateUpdate } from '../../api/validation/validate.js';
import type { AdmissionHooks } from './resource-storage.js';

export const defaultAdmission: AdmissionHooks = {
  defaults: (obj, _r, operation, old) => {
    const out = applyDefaults(obj, {
      operation,
      ...(obj.metadata.uid === undefined ? {} : { uid: obj.metadata.uid }),
    });
    // `kubectl replace` of a Service without its clusterIP keeps the allocated one, as in Kubernetes.
    if (operation === 'update' && old !== undefined && out.kind === 'Service') {
      carryOverServiceAllocations(out, old);
    }
    return out;
  },
  validateCreate: (obj) => validateCreate(obj),
  validateUpdate: (obj, old) => validateUpdate(obj, old),
};
