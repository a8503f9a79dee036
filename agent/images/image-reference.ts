/**
 * Image references and Docker's normalisation rules (distribution/reference `ParseNormalizedNamed`):
 * `nginx` → `docker.io/library/nginx:latest`, `host:port/repo:tag`, `repo@sha256:…`,
 * `repo:tag@sha256:…`. A registry (domain) holds repositories (path); a repository holds tagged
 * images. Malformed references come back as values with the message Docker would print. Also the
 * image pull policy default, which Kubernetes derives from the tag.
 */
import { parseDigest } from './digest.js';

/** A parsed, normalised reference. At least one of `tag` and `digest` is set. */
export interface ImageReference {
  /** Registry host[:port], e.g. `docker.io`, `localhost:5000`, `[::1]:5000`. */
  readonly domain: string;
  /** Repository path inside the registry, e.g. `library/nginx`. */
  readonly path: string;
  readonly tag?: string;
  /** Validated `sha256:…`/`sha512:…`; when present it, not the tag, decides what is pulled. */
  readonly digest?: string;
}

export type ParseReferenceResult =
  { readonly ok: true; readonly ref: ImageReference } | { readonly ok: false; readonly message: string };

export const defaultDomain = 'docker.io';
const legacyDefaultDomain = 'index.docker.io';
const officialRepoPrefix = 'library/';
const nameTotalLengthMax = 255;

const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const domainRe = new RegExp(
  `^(?:${domainComponent}(?:\\.${domainComponent})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`,
);
const pathComponentRe = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const tagRe = /^[\w][\w.-]{0,127}$/;
const identifierRe = /^[a-f0-9]{64}$/;

/** Parses `s` with Docker's normalisation; `latest` is added when neither tag nor digest is given. */
export function parseImageReference(s: string): ParseReferenceResult {
  const fail = (message: string): ParseReferenceResult => ({
    ok: false,
    message: `invalid reference format: ${message}`,
  });
  if (s === '') return fail('repository name must have at least one component');
  if (identifierRe.test(s)) {
    return fail(`invalid repository name (${s}), cannot specify 64-byte hexadecimal strings`);
  }
  if (/\s/.test(s)) return fail(`"${s}" contains whitespace`);

  // Split off the digest first, then the tag (a colon after the last slash), so `host:5000/x` keeps its port.
  let rest = s;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (parseDigest(d) === undefined) return fail(`invalid digest "${d}"`);
    digest = d;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!tagRe.test(tag)) return fail(`invalid tag "${tag}"`);
  }

  const { domain, remainder } = splitDockerDomain(rest);
  if (remainder.toLowerCase() !== remainder) {
    return fail(`repository name (${remainder}) must be lowercase`);
  }
  if (!domainRe.test(domain)) return fail(`invalid registry host "${domain}"`);
  const components = remainder.split('/');
  for (const c of components) {
    if (!pathComponentRe.test(c)) {
      return fail(
        c === ''
          ? `repository name "${remainder}" has an empty component`
          : `invalid repository name component "${c}"`,
      );
    }
  }
  const name = `${domain}/${remainder}`;
  if (name.length > nameTotalLengthMax) {
    return fail(`repository name must not be more than ${nameTotalLengthMax} characters`);
  }
  if (tag === undefined && digest === undefined) tag = 'latest';
  return {
    ok: true,
    ref: {
      domain,
      path: remainder,
      ...(tag === undefined ? {} : { tag }),
      ...(digest === undefined ? {} : { digest }),
    },
  };
}

function splitDockerDomain(name: string): { domain: string; remainder: string } {
  const i = name.indexOf('/');
  let domain: string;
  let remainder: string;
  const first = i < 0 ? '' : name.slice(0, i);
  if (
    i < 0 ||
    (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first && !first.startsWith('['))
  ) {
    domain = defaultDomain;
    remainder = name;
  } else {
    domain = first;
    remainder = name.slice(i + 1);
  }
  if (domain === legacyDefaultDomain) domain = defaultDomain;
  if (domain === defaultDomain && !remainder.includes('/')) remainder = officialRepoPrefix + remainder;
  return { domain, remainder };
}

/** `domain/path`, the repository's full name. */
export function repositoryName(ref: ImageReference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The full normalised string: `domain/path[:tag][@digest]`. */
export function formatReference(ref: ImageReference): string {
  return `${repositoryName(ref)}${ref.tag === undefined ? '' : `:${ref.tag}`}${
    ref.digest === undefined ? '' : `@${ref.digest}`
  }`;
}

/** `domain/path@digest`: how a resolved image is named in `containerStatuses[].imageID`. */
export function digestReference(ref: ImageReference, digest: string): string {
  return `${repositoryName(ref)}@${digest}`;
}

/** Docker's short form for people: `nginx:latest` for `docker.io/library/nginx:latest`. */
export function familiarReference(ref: ImageReference): string {
  let name = repositoryName(ref);
  if (ref.domain === defaultDomain) {
    name = ref.path.startsWith(officialRepoPrefix) ? ref.path.slice(officialRepoPrefix.length) : ref.path;
  }
  return `${name}${ref.tag === undefined ? '' : `:${ref.tag}`}${ref.digest === undefined ? '' : `@${ref.digest}`}`;
}

/** Normalises `s`, or returns undefined when it is not a valid reference. */
export function normalizeReference(s: string): string | undefined {
  const r = parseImageReference(s);
  return r.ok ? formatReference(r.ref) : undefined;
}

export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';

/**
 * Kubernetes' default `imagePullPolicy`: `Always` when the tag is `latest` or omitted (and no digest
 * pins the image), otherwise `IfNotPresent`. An unparsable reference defaults to `IfNotPresent`, so the
 * pull itself reports the error.
 */
export function defaultPullPolicy(image: string): PullPolicy {
  const at = image.indexOf('@');
  const named = at >= 0 ? image.slice(0, at) : image;
  const slash = named.lastIndexOf('/');
  const colon = named.lastIndexOf(':');
  const tag = colon > slash ? named.slice(colon + 1) : undefined;
  if (at >= 0 && tag === undefined) return 'IfNotPresent';
  return tag === undefined || tag === 'latest' ? 'Always' : 'IfNotPresent';
}

/** Whether a pull is needed under `policy` given whether the image is present; `Never` + absent is an error for the caller. */
export function needsPull(policy: PullPolicy, present: boolean): boolean {
  switch (policy) {
    case 'Always':
      return true;
    case 'IfNotPresent':
      return !present;
    case 'Never':
      return false;
  }
}
