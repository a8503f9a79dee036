/**
 * Validation of apps/v1 Deployment, ReplicaSet, DaemonSet and batch/v1 Job
 * (pkg/apis/apps/validation, pkg/apis/batch/validation, and the registries' update rules):
 * selectors that must match the template labels, replica counts, strategies, restart policies, and
 * on update the immutable selector (and, for Jobs, the template).
 */

import { labelSelectorFromObject } from '../selectors/label-selector.js';
import type { StatusCause } from '../status.js';
import {
  forbiddenField,
  goQuote,
  goSyntax,
  invalidValue,
  notSupported,
  required,
  type GoSyntax,
} from '../status.js';
import { jobLabels } from '../defaults/workloads.js';
import { goIntOrString, goJson, goLabelSelector, goStringMap } from './go-values.js';
import { asArray, asNumber, asObject, asString, jsonEqual, type JsonObject } from './json-access.js';
import { isValidPercent } from './names.js';
import {
  emptySelectorError,
  fieldImmutableErrorMsg,
  validateLabelSelector,
  validateNonnegative,
} from './object-meta.js';
import { validatePodTemplateSpec } from './pod.js';

// %#v of the internal strategy struct; a set rollingUpdate pointer prints as an address in Go.
function goStrategy(type: string, ruType: string, strategy: JsonObject): GoSyntax {
  const ru = strategy['rollingUpdate'] == null ? 'nil' : '0xc000000000';
  return goSyntax(
    `apps.${type}{Type:${goQuote(asString(strategy['type']))}, RollingUpdate:(*apps.${ruType})(${ru})}`,
  );
}

const selectorMismatchMsg = '`selector` does not match template `labels`';

function templateLabels(spec: JsonObject): unknown {
  return asObject(asObject(spec['template'])?.['metadata'])?.['labels'];
}

function restartPolicyOf(spec: JsonObject): string {
  return asString(asObject(asObject(spec['template'])?.['spec'])?.['restartPolicy']);
}

/** ValidatePositiveIntOrPercent. */
function validatePositiveIntOrPercent(v: unknown, path: string): StatusCause[] {
  if (typeof v === 'string') return isValidPercent(v).map((msg) => invalidValue(path, goIntOrString(v), msg));
  if (typeof v === 'number') return validateNonnegative(v, path);
  return [invalidValue(path, goIntOrString(v), "must be an integer or percentage (e.g '5%')")];
}

function intOrPercentValue(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^\d+%$/.test(v)) return Number(v.slice(0, -1));
  return 0;
}

function notMoreThan100Percent(v: unknown, path: string): StatusCause[] {
  if (typeof v === 'string' && /^\d+%$/.test(v) && Number(v.slice(0, -1)) > 100) {
    return [invalidValue(path, goIntOrString(v), 'must not be greater than 100%')];
  }
  return [];
}

/**
 * The selector / template checks shared by Deployment and ReplicaSet (ValidatePodTemplateSpecForReplicaSet).
 */
function validateReplicaSetLike(spec: JsonObject, what: string): StatusCause[] {
  const causes = validateNonnegative(spec['replicas'], 'spec.replicas');
  const selector = spec['selector'];
  if (asObject(selector) === undefined) causes.push(required('spec.selector'));
  else {
    causes.push(...validateLabelSelector(selector, 'spec.selector'));
    causes.push(...emptySelectorError(selector, 'spec.selector', what));
  }
  const sel = labelSelectorFromObject(asObject(selector) ?? null);
  if (!sel.ok)
    causes.push(invalidValue('spec.selector', goLabelSelector(selector), 'invalid label selector'));
  else {
    if (asObject(spec['template']) === undefined) causes.push(required('spec.template'));
    if (!sel.selector.isEverything() && !sel.selector.isNothing()) {
      const labels = templateLabels(spec);
      const asLabels = Object.fromEntries(
        Object.entries(asObject(labels) ?? {}).map(([k, v]) => [k, asString(v)]),
      );
      if (!sel.selector.matches(asLabels)) {
        causes.push(invalidValue('spec.template.metadata.labels', goStringMap(labels), selectorMismatchMsg));
      }
    }
    causes.push(...validatePodTemplateSpec(spec['template'], 'spec.template'));
    const rp = restartPolicyOf(spec);
    if (rp !== 'Always') causes.push(notSupported('spec.template.spec.restartPolicy', rp, ['Always']));
    if (asObject(asObject(spec['template'])?.['spec'])?.['activeDeadlineSeconds'] != null) {
      causes.push(
        forbiddenField(
          'spec.template.spec.activeDeadlineSeconds',
          'activeDeadlineSeconds in ReplicaSet is not Supported',
        ),
      );
    }
  }
  return causes;
}

/** ValidateDeploymentSpec. */
export function validateDeployment(d: JsonObject): StatusCause[] {
  const spec = asObject(d['spec']) ?? {};
  const causes = validateReplicaSetLike(spec, 'deployment');
  const strategy = asObject(spec['strategy']) ?? {};
  const type = asString(strategy['type']);
  if (type === 'Recreate') {
    if (strategy['rollingUpdate'] != null) {
      causes.push(
        forbiddenField(
          'spec.strategy.rollingUpdate',
          "may not be specified when strategy `type` is 'Recreate'",
        ),
      );
    }
  } else if (type === 'RollingUpdate') {
    const ru = asObject(strategy['rollingUpdate']);
    if (ru === undefined)
      causes.push(required('spec.strategy.rollingUpdate', 'this should be defaulted and never be nil'));
    else {
      const p = 'spec.strategy.rollingUpdate';
      causes.push(...validatePositiveIntOrPercent(ru['maxUnavailable'], `${p}.maxUnavailable`));
      causes.push(...validatePositiveIntOrPercent(ru['maxSurge'], `${p}.maxSurge`));
      if (intOrPercentValue(ru['maxUnavailable']) === 0 && intOrPercentValue(ru['maxSurge']) === 0) {
        causes.push(
          invalidValue(
            `${p}.maxUnavailable`,
            goIntOrString(ru['maxUnavailable']),
            'may not be 0 when `maxSurge` is 0',
          ),
        );
      }
      causes.push(...notMoreThan100Percent(ru['maxUnavailable'], `${p}.maxUnavailable`));
    }
  } else {
    causes.push(
      notSupported('spec.strategy', goStrategy('DeploymentStrategy', 'RollingUpdateDeployment', strategy), [
        'Recreate',
        'RollingUpdate',
      ]),
    );
  }
  causes.push(...validateNonnegative(spec['minReadySeconds'], 'spec.minReadySeconds'));
  causes.push(...validateNonnegative(spec['revisionHistoryLimit'], 'spec.revisionHistoryLimit'));
  const pds = asNumber(spec['progressDeadlineSeconds']);
  if (pds !== undefined) {
    causes.push(...validateNonnegative(pds, 'spec.progressDeadlineSeconds'));
    if (pds <= (asNumber(spec['minReadySeconds']) ?? 0)) {
      causes.push(invalidValue('spec.progressDeadlineSeconds', pds, 'must be greater than minReadySeconds'));
    }
  }
  return causes;
}

/** ValidateReplicaSetSpec (Kubernetes' message really does say "for deployment" here too). */
export function validateReplicaSet(rs: JsonObject): StatusCause[] {
  const spec = asObject(rs['spec']) ?? {};
  const causes = validateReplicaSetLike(spec, 'deployment');
  causes.push(...validateNonnegative(spec['minReadySeconds'], 'spec.minReadySeconds'));
  return causes;
}

/** ValidateDaemonSetSpec. */
export function validateDaemonSet(ds: JsonObject): StatusCause[] {
  const spec = asObject(ds['spec']) ?? {};
  const causes: StatusCause[] = [];
  const selector = spec['selector'];
  if (asObject(selector) === undefined) causes.push(required('spec.selector'));
  causes.push(...validateLabelSelector(selector, 'spec.selector'));
  const sel = labelSelectorFromObject(asObject(selector) ?? null);
  const labels = templateLabels(spec);
  const asLabels = Object.fromEntries(
    Object.entries(asObject(labels) ?? {}).map(([k, v]) => [k, asString(v)]),
  );
  if (sel.ok && !sel.selector.isNothing() && !sel.selector.matches(asLabels)) {
    causes.push(invalidValue('spec.template.metadata.labels', goStringMap(labels), selectorMismatchMsg));
  }
  causes.push(...emptySelectorError(selector, 'spec.selector', 'daemonset'));
  causes.push(...validatePodTemplateSpec(spec['template'], 'spec.template'));
  const rp = restartPolicyOf(spec);
  if (rp !== 'Always') causes.push(notSupported('spec.template.spec.restartPolicy', rp, ['Always']));
  const ads = asObject(asObject(spec['template'])?.['spec'])?.['activeDeadlineSeconds'];
  if (ads != null) {
    causes.push(
      invalidValue(
        'spec.template.spec.activeDeadlineSeconds',
        ads,
        'activeDeadlineSeconds must be nil for daemon sets',
      ),
    );
  }
  causes.push(...validateNonnegative(spec['minReadySeconds'], 'spec.minReadySeconds'));
  causes.push(...validateNonnegative(spec['templateGeneration'], 'spec.templateGeneration'));
  const strategy = asObject(spec['updateStrategy']) ?? {};
  const type = asString(strategy['type']);
  if (type === 'RollingUpdate') {
    const ru = asObject(strategy['rollingUpdate']);
    if (ru === undefined) causes.push(required('spec.updateStrategy.rollingUpdate'));
    else {
      const p = 'spec.updateStrategy.rollingUpdate';
      const hasUnavailable = ru['maxUnavailable'] != null && intOrPercentValue(ru['maxUnavailable']) !== 0;
      const hasSurge = ru['maxSurge'] != null && intOrPercentValue(ru['maxSurge']) !== 0;
      if (hasUnavailable) {
        causes.push(...validatePositiveIntOrPercent(ru['maxUnavailable'], `${p}.maxUnavailable`));
        causes.push(...notMoreThan100Percent(ru['maxUnavailable'], `${p}.maxUnavailable`));
      }
      if (hasSurge) {
        causes.push(...validatePositiveIntOrPercent(ru['maxSurge'], `${p}.maxSurge`));
        causes.push(...notMoreThan100Percent(ru['maxSurge'], `${p}.maxSurge`));
      }
      if (hasUnavailable && hasSurge) {
        causes.push(
          invalidValue(
            `${p}.maxSurge`,
            goIntOrString(ru['maxSurge']),
            'may not be set when maxUnavailable is non-zero',
          ),
        );
      } else if (!hasUnavailable && !hasSurge) {
        causes.push(required(`${p}.maxUnavailable`, 'cannot be 0 when maxSurge is 0'));
      }
    }
  } else if (type !== 'OnDelete') {
    causes.push(
      notSupported(
        'spec.updateStrategy',
        goStrategy('DaemonSetUpdateStrategy', 'RollingUpdateDaemonSet', strategy),
        ['RollingUpdate', 'OnDelete'],
      ),
    );
  }
  causes.push(...validateNonnegative(spec['revisionHistoryLimit'], 'spec.revisionHistoryLimit'));
  return causes;
}

/** `spec.selector` may not change after create (Deployment, ReplicaSet, DaemonSet, Job). */
export function validateSelectorImmutable(obj: JsonObject, old: JsonObject): StatusCause[] {
  const sel = asObject(obj['spec'])?.['selector'];
  const oldSel = asObject(old['spec'])?.['selector'];
  return jsonEqual(sel ?? null, oldSel ?? null)
    ? []
    : [invalidValue('spec.selector', goLabelSelector(sel), fieldImmutableErrorMsg)];
}

// ---------------------------------------------------------------------------------------------------
// Job

/** ValidateJob (create): spec, generated-selector consistency. */
export function validateJob(job: JsonObject): StatusCause[] {
  const spec = asObject(job['spec']) ?? {};
  const meta = asObject(job['metadata']) ?? {};
  const causes: StatusCause[] = [];
  const manual = spec['manualSelector'] === true;
  if (!manual) causes.push(...validateGeneratedSelector(spec, meta));
  causes.push(...validateJobSpec(spec));
  return causes;
}

function validateGeneratedSelector(spec: JsonObject, meta: JsonObject): StatusCause[] {
  const selector = asObject(spec['selector']);
  if (selector === undefined) return [];
  const causes: StatusCause[] = [];
  const uid = asString(meta['uid']);
  const name = asString(meta['name']);
  if (uid === '') causes.push(required('metadata.uid'));
  const labels = asObject(templateLabels(spec)) ?? {};
  const hasLabel = (key: string, expected: string): void => {
    const path = `spec.template.metadata.labels[${key}]`;
    if (!Object.hasOwn(labels, key)) causes.push(required(path, expected));
    else if (labels[key] !== expected)
      causes.push(invalidValue(path, goStringMap(labels), `must be '${expected}'`));
  };
  hasLabel(jobLabels.legacyControllerUid, uid);
  hasLabel(jobLabels.legacyJobName, name);
  hasLabel(jobLabels.controllerUid, uid);
  hasLabel(jobLabels.jobName, name);
  const expected = { matchLabels: { [jobLabels.controllerUid]: uid } };
  const actual = {
    matchLabels: asObject(selector['matchLabels']) ?? {},
    matchExpressions: asArray(selector['matchExpressions']),
  };
  if (!jsonEqual(actual.matchLabels, expected.matchLabels) || actual.matchExpressions.length > 0) {
    causes.push(invalidValue('spec.selector', goLabelSelector(selector), '`selector` not auto-generated'));
  }
  return causes;
}

function validateJobSpec(spec: JsonObject): StatusCause[] {
  const causes: StatusCause[] = [];
  for (const f of [
    'parallelism',
    'completions',
    'activeDeadlineSeconds',
    'backoffLimit',
    'ttlSecondsAfterFinished',
  ]) {
    causes.push(...validateNonnegative(spec[f], `spec.${f}`));
  }
  const mode = spec['completionMode'];
  if (mode != null) {
    const m = asString(mode);
    if (m !== 'NonIndexed' && m !== 'Indexed')
      causes.push(notSupported('spec.completionMode', m, ['NonIndexed', 'Indexed']));
    if (m === 'Indexed') {
      if (spec['completions'] == null)
        causes.push(required('spec.completions', 'when completion mode is Indexed'));
      const par = asNumber(spec['parallelism']);
      if (par !== undefined && par > 100000) {
        causes.push(
          invalidValue(
            'spec.parallelism',
            par,
            'must be less than or equal to 100000 when completion mode is Indexed',
          ),
        );
      }
    }
  }
  const selector = spec['selector'];
  if (asObject(selector) === undefined) causes.push(required('spec.selector'));
  else causes.push(...validateLabelSelector(selector, 'spec.selector'));
  const sel = labelSelectorFromObject(asObject(selector) ?? null);
  if (sel.ok && !sel.selector.isNothing()) {
    if (sel.selector.isEverything()) causes.push(required('spec.selector'));
    const labels = templateLabels(spec);
    const asLabels = Object.fromEntries(
      Object.entries(asObject(labels) ?? {}).map(([k, v]) => [k, asString(v)]),
    );
    if (!sel.selector.matches(asLabels)) {
      causes.push(invalidValue('spec.template.metadata.labels', goStringMap(labels), selectorMismatchMsg));
    }
  }
  causes.push(...validatePodTemplateSpec(spec['template'], 'spec.template'));
  const rp = restartPolicyOf(spec);
  if (rp === 'Always' || rp === '') {
    causes.push(required('spec.template.spec.restartPolicy', 'valid values: "OnFailure", "Never"'));
  } else if (rp !== 'OnFailure' && rp !== 'Never') {
    causes.push(notSupported('spec.template.spec.restartPolicy', rp, ['OnFailure', 'Never']));
  }
  return causes;
}

/** ValidateJobUpdate: selector, template, completionMode (and completions unless Indexed) immutable. */
export function validateJobUpdate(job: JsonObject, old: JsonObject): StatusCause[] {
  const spec = asObject(job['spec']) ?? {};
  const oldSpec = asObject(old['spec']) ?? {};
  const causes = validateJobSpec(spec);
  const immutable = (field: string, shown: unknown): void => {
    if (!jsonEqual(spec[field] ?? null, oldSpec[field] ?? null))
      causes.push(invalidValue(`spec.${field}`, shown, fieldImmutableErrorMsg));
  };
  if (asString(spec['completionMode']) !== 'Indexed') immutable('completions', spec['completions'] ?? null);
  causes.push(...validateSelectorImmutable(job, old));
  immutable('template', goJson(spec['template']));
  immutable('completionMode', spec['completionMode'] ?? null);
  immutable('podFailurePolicy', goJson(spec['podFailurePolicy'] ?? null));
  immutable('backoffLimitPerIndex', spec['backoffLimitPerIndex'] ?? null);
  return causes;
}
