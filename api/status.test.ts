import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { BerthError, errorCodes, isBerthError } from '../lib/errors.js';
import {
  ApiError,
  aggregateCauses,
  alreadyExists,
  badRequest,
  conflict,
  duplicate,
  failureStatus,
  forbidden,
  forbiddenField,
  formatBadValue,
  gone,
  goQuote,
  internalError,
  invalid,
  invalidValue,
  isApiError,
  methodNotAllowed,
  notAcceptable,
  notFound,
  notSupported,
  reasonCodes,
  required,
  serviceUnavailable,
  success,
  timeout,
  tooLarge,
  tooLong,
  tooManyRequests,
  tooOldResourceVersion,
  toStatus,
  unauthorized,
  unsupportedMediaType,
} from './status.js';

const pods = { group: '', resource: 'pods' };
const deployments = { group: 'apps', resource: 'deployments' };

describe('status builders', () => {
  it('notFound matches the Kubernetes wire form for a core resource', () => {
    assert.deepEqual(notFound(pods, 'nope'), {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'pods "nope" not found',
      reason: 'NotFound',
      details: { name: 'nope', kind: 'pods' },
      code: 404,
    });
  });

  it('qualifies grouped resources', () => {
    const s = notFound(deployments, 'web');
    assert.equal(s.message, 'deployments.apps "web" not found');
    assert.deepEqual(s.details, { name: 'web', group: 'apps', kind: 'deployments' });
  });

  it('alreadyExists is a 409 AlreadyExists', () => {
    const s = alreadyExists({ group: '', resource: 'configmaps' }, 'cm1');
    assert.equal(s.code, 409);
    assert.equal(s.reason, 'AlreadyExists');
    assert.equal(s.message, 'configmaps "cm1" already exists');
  });

  it('conflict defaults to the optimistic-lock text', () => {
    const s = conflict(pods, 'x');
    assert.equal(s.code, 409);
    assert.equal(s.reason, 'Conflict');
    assert.equal(
      s.message,
      'Operation cannot be fulfilled on pods "x": the object has been modified; please apply your changes to the latest version and try again',
    );
    assert.equal(
      conflict(deployments, 'd', 'boom').message,
      'Operation cannot be fulfilled on deployments.apps "d": boom',
    );
  });

  it('invalid with one cause has no brackets', () => {
    const c = invalidValue('spec.replicas', -1, 'must be greater than or equal to 0');
    const s = invalid({ group: 'apps', kind: 'Deployment' }, 'web', [c]);
    assert.deepEqual(s, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message:
        'Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0',
      reason: 'Invalid',
      details: {
        name: 'web',
        group: 'apps',
        kind: 'Deployment',
        causes: [
          {
            reason: 'FieldValueInvalid',
            message: 'Invalid value: -1: must be greater than or equal to 0',
            field: 'spec.replicas',
          },
        ],
      },
      code: 422,
    });
  });

  it('invalid with several causes brackets and de-duplicates them', () => {
    const causes = [
      required('spec.containers[0].image'),
      invalidValue('metadata.name', 'Foo', 'bad'),
      required('spec.containers[0].image'),
    ];
    const s = invalid({ group: '', kind: 'Pod' }, 'Foo', causes);
    assert.equal(
      s.message,
      'Pod "Foo" is invalid: [spec.containers[0].image: Required value, metadata.name: Invalid value: "Foo": bad]',
    );
    assert.equal(s.details?.causes?.length, 3);
  });

  it('invalid with no causes says just "is invalid"', () => {
    assert.equal(invalid({ group: '', kind: 'Pod' }, 'p', []).message, 'Pod "p" is invalid');
    assert.equal(invalid({ group: '', kind: 'Pod' }, 'p', []).details?.causes, undefined);
    assert.equal(aggregateCauses([]), '');
  });

  it('builds the other failure kinds with their codes and messages', () => {
    assert.deepEqual(
      [badRequest('nope').code, badRequest('nope').reason, badRequest('nope').message],
      [400, 'BadRequest', 'nope'],
    );
    const g = tooOldResourceVersion(5, 100);
    assert.deepEqual([g.code, g.reason, g.message], [410, 'Expired', 'too old resource version: 5 (100)']);
    assert.equal(gone('x', 'Gone').reason, 'Gone');
    assert.deepEqual([unauthorized().code, unauthorized().message], [401, 'Unauthorized']);
    assert.equal(forbidden(pods, 'x', 'no').message, 'pods "x" is forbidden: no');
    assert.equal(forbidden(deployments, '', 'no').message, 'deployments.apps is forbidden: no');
    assert.equal(forbidden(undefined, '', 'no').message, 'forbidden: no');
    assert.equal(forbidden(pods, 'x', 'no').code, 403);
    const m = methodNotAllowed(pods, 'watch');
    assert.deepEqual(
      [m.code, m.reason, m.message],
      [405, 'MethodNotAllowed', 'watch is not supported on resources of kind "pods"'],
    );
    assert.equal(
      notAcceptable().message,
      'only the following media types are accepted: application/json, application/yaml',
    );
    assert.equal(notAcceptable().code, 406);
    const u = unsupportedMediaType('application/vnd.kubernetes.protobuf');
    assert.equal(u.code, 415);
    assert.equal(
      u.message,
      'the body of the request was in an unknown format (application/vnd.kubernetes.protobuf) - accepted media types include: application/json, application/yaml',
    );
    assert.deepEqual(
      [tooLarge(3145728).code, tooLarge(3145728).message],
      [413, 'Request entity too large: limit is 3145728'],
    );
    const t = tooManyRequests('slow down', 1);
    assert.deepEqual(
      [t.code, t.message, t.details],
      [429, 'Too many requests: slow down', { retryAfterSeconds: 1 }],
    );
    assert.equal(serviceUnavailable('later').code, 503);
    assert.deepEqual([timeout('x').code, timeout('x').message], [504, 'Timeout: x']);
    const i = internalError(new Error('disk on fire'));
    assert.deepEqual(
      [i.code, i.reason, i.message, i.details],
      [
        500,
        'InternalError',
        'Internal error occurred: disk on fire',
        { causes: [{ message: 'disk on fire' }] },
      ],
    );
  });

  it('success is a 200 with optional details', () => {
    assert.deepEqual(success({ name: 'x', kind: 'pods', uid: 'u1' }), {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Success',
      message: '',
      reason: '',
      details: { name: 'x', kind: 'pods', uid: 'u1' },
      code: 200,
    });
    assert.equal(success().details, undefined);
  });
});

describe('failureStatus', () => {
  it('takes the HTTP code from the reason and copies causes', () => {
    const causes = [{ reason: 'FieldManagerConflict', message: 'conflict with "a"', field: '.data.x' }];
    assert.deepEqual(failureStatus('Conflict', 'Apply failed with 1 conflict', causes), {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'Apply failed with 1 conflict',
      reason: 'Conflict',
      details: { causes },
      code: 409,
    });
    assert.equal(failureStatus('UnsupportedMediaType', 'x').code, 415);
    assert.equal(failureStatus('RequestEntityTooLarge', 'x').code, 413);
    assert.equal(failureStatus('BadRequest', 'x', []).details, undefined, 'no empty causes list');
  });

  it('agrees with every named builder', () => {
    const built = [
      notFound(pods, 'x'),
      alreadyExists(pods, 'x'),
      conflict(pods, 'x'),
      invalid({ group: '', kind: 'Pod' }, 'x', []),
      badRequest('x'),
      gone('x'),
      unauthorized(),
      forbidden(pods, 'x', 'no'),
      methodNotAllowed(pods, 'x'),
      notAcceptable(),
      unsupportedMediaType('x'),
      tooLarge(1),
      tooManyRequests('x', 1),
      internalError('x'),
      serviceUnavailable('x'),
      timeout('x'),
    ];
    for (const s of built) {
      assert.notEqual(s.reason, '');
      if (s.reason !== '') assert.equal(s.code, reasonCodes[s.reason], s.reason);
    }
  });
});

describe('ApiError', () => {
  it('carries the status and is a BerthError with the API_STATUS code', () => {
    const err = new ApiError(notFound(pods, 'x'));
    assert.ok(err instanceof BerthError);
    assert.ok(isBerthError(err, errorCodes.API_STATUS));
    assert.ok(isApiError(err));
    assert.equal(err.message, 'pods "x" not found');
    assert.equal(toStatus(err).code, 404);
    assert.equal(isApiError(new Error('x')), false);
    assert.equal(toStatus(new Error('x')).message, 'Internal error occurred: x');
  });
});

describe('field errors', () => {
  it('produce Kubernetes ErrorBody text', () => {
    assert.deepEqual(required('metadata.name', 'name or generateName is required'), {
      reason: 'FieldValueRequired',
      message: 'Required value: name or generateName is required',
      field: 'metadata.name',
    });
    assert.equal(required('x').message, 'Required value');
    assert.equal(invalidValue('f', 'Foo', 'bad').message, 'Invalid value: "Foo": bad');
    assert.equal(invalidValue('f', 3).message, 'Invalid value: 3');
    assert.equal(invalidValue('f', null, 'x').message, 'Invalid value: "null": x');
    assert.equal(invalidValue('f', true).message, 'Invalid value: true');
    assert.deepEqual(notSupported('spec.restartPolicy', 'X', ['Always', 'OnFailure', 'Never']), {
      reason: 'FieldValueNotSupported',
      message: 'Unsupported value: "X": supported values: "Always", "OnFailure", "Never"',
      field: 'spec.restartPolicy',
    });
    assert.equal(duplicate('f', 'a').message, 'Duplicate value: "a"');
    assert.equal(duplicate('f', 'a').reason, 'FieldValueDuplicate');
    assert.equal(forbiddenField('f', 'may not be set').message, 'Forbidden: may not be set');
    assert.equal(
      tooLong('metadata.annotations', '', 262144).message,
      'Too long: may not be more than 262144 bytes',
    );
    assert.equal(tooLong('f', '', 1).message, 'Too long: may not be more than 1 byte');
    assert.equal(tooLong('f', '', 1).reason, 'FieldValueTooLong');
  });

  it('formats values like Go', () => {
    assert.equal(goQuote('a"b\\c\n\t\x01é'), '"a\\"b\\\\c\\n\\t\\x01é"');
    assert.equal(formatBadValue(['a', 'b']), '[]string{"a", "b"}');
    assert.equal(formatBadValue({ a: 'b' }), 'map[string]string{"a":"b"}');
    assert.equal(formatBadValue(undefined), '"null"');
  });
});
