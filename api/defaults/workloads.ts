/**
 * Defaulting for apps/v1 Deployment, ReplicaSet, DaemonSet and batch/v1 Job
 * (pkg/apis/apps/v1/defaults.go, pkg/apis/batch/v1/defaults.go), plus the Job selector generation
 * Kubernetes does when a Job is created without `manualSelector: true` (registry/batch/job
 * generateSelector). Functions mutate the object they are given.
 */

import { asObject, asString, type JsonObject } from '../validation/json-access.js';
import { child, defaultPodTemplate, setDefault } from './pod.js';

/** SetDefaults_Deployment. */
export function defaultDeployment(d: JsonObject): void {
  const spec = child(d, 'spec');
  setDefault(spec, 'replicas', 1);
  const strategy = child(spec, 'strategy');
  setDefault(strategy, 'type', 'RollingUpdate');
  if (strategy['type'] === 'RollingUpdate') {
    const ru = child(strategy, 'rollingUpdate');
    setDefault(ru, 'maxUnavailable', '25%');
    setDefault(ru, 'maxSurge', '25%');
  }
  setDefault(spec, 'revisionHistoryLimit', 10);
  setDefault(spec, 'progressDeadlineSeconds', 600);
  defaultPodTemplate(child(spec, 'template'));
}

/** SetDefaults_ReplicaSet. */
export function defaultReplicaSet(rs: JsonObject): void {
  const spec = child(rs, 'spec');
  setDefault(spec, 'replicas', 1);
  defaultPodTemplate(child(spec, 'template'));
}

/** SetDefaults_DaemonSet. */
export function defaultDaemonSet(ds: JsonObject): void {
  const spec = child(ds, 'spec');
  const strategy = child(spec, 'updateStrategy');
  setDefault(strategy, 'type', 'RollingUpdate');
  if (strategy['type'] === 'RollingUpdate') {
    const ru = child(strategy, 'rollingUpdate');
    setDefault(ru, 'maxUnavailable', 1);
    setDefault(ru, 'maxSurge', 0);
  }
  setDefault(spec, 'revisionHistoryLimit', 10);
  defaultPodTemplate(child(spec, 'template'));
}

/** Labels Kubernetes puts on a Job's pods and selects them by. */
export const jobLabels = {
  controllerUid: 'batch.kubernetes.io/controller-uid',
  jobName: 'batch.kubernetes.io/job-name',
  legacyControllerUid: 'controller-uid',
  legacyJobName: 'job-name',
} as const;

/**
 * SetDefaults_Job, and on create (when `uid` is given) generateSelector: unless
 * `spec.manualSelector` is true, the template gets `job-name`/`controller-uid` labels in both legacy
 * and `batch.kubernetes.io/` forms, and the selector matches `batch.kubernetes.io/controller-uid`.
 * Job metadata.labels default to the template's labels, as a real API server shows them.
 */
export function defaultJob(job: JsonObject, uid: string | undefined): void {
  const spec = child(job, 'spec');
  if (spec['completions'] == null && spec['parallelism'] == null) {
    spec['completions'] = 1;
    spec['parallelism'] = 1;
  }
  setDefault(spec, 'parallelism', 1);
  if (spec['backoffLimit'] == null) {
    spec['backoffLimit'] = spec['backoffLimitPerIndex'] == null ? 6 : 2147483647;
  }
  setDefault(spec, 'completionMode', 'NonIndexed');
  setDefault(spec, 'suspend', false);
  setDefault(
    spec,
    'podReplacementPolicy',
    spec['podFailurePolicy'] == null ? 'TerminatingOrFailed' : 'Failed',
  );
  const template = child(spec, 'template');
  defaultPodTemplate(template);

  if (uid !== undefined && spec['manualSelector'] !== true) {
    const meta = asObject(job['metadata']) ?? {};
    const name = asString(meta['name']);
    const tmeta = child(template, 'metadata');
    const labels = child(tmeta, 'labels');
    // A user's own label wins here; validation then reports the mismatch.
    for (const key of [jobLabels.legacyJobName, jobLabels.jobName])
      if (!Object.hasOwn(labels, key)) labels[key] = name;
    for (const key of [jobLabels.legacyControllerUid, jobLabels.controllerUid]) {
      if (!Object.hasOwn(labels, key)) labels[key] = uid;
    }
    const selector = child(spec, 'selector');
    const matchLabels = child(selector, 'matchLabels');
    if (!Object.hasOwn(matchLabels, jobLabels.controllerUid)) matchLabels[jobLabels.controllerUid] = uid;
  }

  const templateLabels = asObject(asObject(template['metadata'])?.['labels']);
  const meta = child(job, 'metadata');
  const jobLabelsNow = asObject(meta['labels']);
  if (
    templateLabels !== undefined &&
    (jobLabelsNow === undefined || Object.keys(jobLabelsNow).length === 0)
  ) {
    meta['labels'] = { ...templateLabels };
  }
}
