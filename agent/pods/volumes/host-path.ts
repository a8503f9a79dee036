/**
 * hostPath volumes: the `type` check the kubelet runs before a container may mount the path
 * (pkg/volume/hostpath: checkType), creating what the `…OrCreate` types ask for. The messages are
 * the kubelet's, so `kubectl describe` reads the same.
 *
 *   ""                 no check (the runtime may create a missing directory when it mounts)
 *   DirectoryOrCreate  create (0755, with parents) if missing; else must be a directory
 *   Directory          must exist and be a directory
 *   FileOrCreate       create an empty file (0644) if missing (parent must exist); else must be a file
 *   File               must exist and be a regular file
 *   Socket / CharDevice / BlockDevice   must exist and be one
 */
import { mkdir, open, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';

/** The hostPath `type` values Kubernetes defines. */
export const hostPathTypes = [
  '',
  'DirectoryOrCreate',
  'Directory',
  'FileOrCreate',
  'File',
  'Socket',
  'CharDevice',
  'BlockDevice',
] as const;

/** `undefined` when `path` is usable as `type` (after creating it if asked), else the reason. */
export async function checkHostPath(path: string, type: string): Promise<string | undefined> {
  if (!path.startsWith('/')) return `hostPath "${path}" must be an absolute path`;
  if (!(hostPathTypes as readonly string[]).includes(type)) return `invalid hostPath type "${type}"`;
  if (type === '') return undefined;
  const st = await statOrUndefined(path);
  const fail = (what: string): string => `hostPath type check failed: ${path} is not ${what}`;
  switch (type) {
    case 'DirectoryOrCreate':
      if (st === undefined) {
        await mkdir(path, { recursive: true, mode: 0o755 });
        return undefined;
      }
      return st.isDirectory() ? undefined : fail('a directory');
    case 'Directory':
      return st?.isDirectory() === true ? undefined : fail('a directory');
    case 'FileOrCreate':
      if (st === undefined) {
        try {
          await (await open(path, 'a', 0o644)).close();
        } catch (err) {
          return `hostPath type check failed: cannot create ${path}: ${(err as Error).message}`;
        }
        return undefined;
      }
      return st.isFile() ? undefined : fail('a file');
    case 'File':
      return st?.isFile() === true ? undefined : fail('a file');
    case 'Socket':
      return st?.isSocket() === true ? undefined : fail('a socket file');
    case 'CharDevice':
      return st?.isCharacterDevice() === true ? undefined : fail('a character device');
    case 'BlockDevice':
      return st?.isBlockDevice() === true ? undefined : fail('a block device');
    default:
      return `invalid hostPath type "${type}"`;
  }
}

async function statOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
