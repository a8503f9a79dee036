/**
 * `berth image ls|pull|rm|prune|inspect|import|export`: the node's images, operating directly on an
 * agent's data dir (`--data-dir`, the images live in `<data-dir>/images`), like `crictl images` or
 * `k3s ctr images`. Safe next to a running agent: the metadata is SQLite, snapshots appear by rename,
 * and GC leaves young orphans alone.
 */
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { Command, InvalidArgumentError } from 'commander';
import { readDockerConfig, type DockerConfig } from '../agent/images/credentials.js';
import type { RegistryCredentials } from '../agent/images/image-service.js';
import { familiarReference, parseImageReference } from '../agent/images/image-reference.js';
import { LocalImageService } from '../agent/images/local-image-service.js';
import { readRegistriesConfig } from '../agent/images/registries-config.js';
import { createNodeRegistryHttp, globalFetch } from '../agent/images/registry-http.js';
import { realClock } from '../lib/clock.js';
import { BerthError, errorCodes } from '../lib/errors.js';
import { createLogger } from '../lib/logger.js';
import { berthVersion } from '../lib/version.js';
import { formatBytes, PullProgressRenderer } from './image-progress.js';

/** Where the registries file is read from unless `--registries` says otherwise. */
export const defaultRegistriesPath = '/etc/berth/registries.yaml';

function defaultAgentDataDir(): string {
  return process.getuid?.() === 0 ? '/var/lib/berth-agent' : join(homedir(), '.berth-agent');
}

function defaultDockerConfigPath(): string {
  const dir = process.env['DOCKER_CONFIG'];
  return join(dir !== undefined && dir !== '' ? dir : join(homedir(), '.docker'), 'config.json');
}

interface CommonFlags {
  dataDir: string;
  registries: string;
  dockerConfig: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 64)
    throw new InvalidArgumentError(`expected an integer 1–64, got "${v}"`);
  return n;
}

/** Opens the image service of `--data-dir` with the node's registry settings. */
async function openService(
  flags: CommonFlags,
  extra: { layerConcurrency?: number; platform?: string } = {},
): Promise<{ service: LocalImageService; close: () => Promise<void> }> {
  const registries = await readRegistriesConfig(flags.registries);
  let dockerConfig: DockerConfig | undefined;
  if (existsSync(flags.dockerConfig)) dockerConfig = await readDockerConfig(flags.dockerConfig);
  const http = await createNodeRegistryHttp(globalFetch());
  const logger = createLogger({ level: flags.logLevel, pretty: false });
  try {
    const service = await LocalImageService.open({
      root: join(flags.dataDir, 'images'),
      http,
      clock: realClock,
      logger,
      registries,
      ...(dockerConfig === undefined ? {} : { dockerConfig }),
      ...(extra.layerConcurrency === undefined ? {} : { layerConcurrency: extra.layerConcurrency }),
      ...(extra.platform === undefined ? {} : { platform: extra.platform }),
      userAgent: `berth/${berthVersion().version}`,
    });
    return {
      service,
      close: async () => {
        await service.close();
        await http.close();
        logger.flush();
      },
    };
  } catch (err) {
    await http.close();
    throw err;
  }
}

function withCommon(cmd: Command): Command {
  return cmd
    .option(
      '--data-dir <dir>',
      "the node agent's data dir (images are in <data-dir>/images)",
      defaultAgentDataDir(),
    )
    .option(
      '--registries <file>',
      'registries file (mirrors, TLS, credentials; k3s registries.yaml format)',
      defaultRegistriesPath,
    )
    .option(
      '--docker-config <file>',
      'Docker config.json for registry credentials',
      defaultDockerConfigPath(),
    )
    .option('--log-level <level>', 'log level (debug, info, warn, error, silent)', 'warn');
}

async function withService<T>(
  flags: CommonFlags,
  fn: (s: LocalImageService) => Promise<T>,
  extra?: { layerConcurrency?: number; platform?: string },
): Promise<T> {
  const { service, close } = await openService(flags, extra);
  try {
    return await fn(service);
  } finally {
    await close();
  }
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return (
    rows
      .map((r) =>
        r
          .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
          .join('   ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} seconds ago`;
  if (s < 7200) return `${Math.round(s / 60)} minutes ago`;
  if (s < 172_800) return `${Math.round(s / 3600)} hours ago`;
  return `${Math.round(s / 86_400)} days ago`;
}

function parseCreds(v: string): RegistryCredentials {
  const i = v.indexOf(':');
  if (i <= 0) throw new InvalidArgumentError('expected USER:PASSWORD');
  return { username: v.slice(0, i), password: v.slice(i + 1) };
}

export function imageCommand(): Command {
  const image = new Command('image')
    .alias('images')
    .description("manage this node's images (pull, list, remove, import, export)");

  const lsCmd = withCommon(new Command('ls').alias('list').description('list images'))
    .option('-q, --quiet', 'print image ids only')
    .option('--digests', 'show repository digests')
    .action(async (flags: CommonFlags & { quiet?: boolean; digests?: boolean }) => {
      await withService(flags, (s) => {
        const images = s.listDetailed();
        if (flags.quiet === true) {
          process.stdout.write(images.map((i) => `${i.configDigest.slice(7, 19)}\n`).join(''));
          return Promise.resolve();
        }
        const rows = [
          [
            'REFERENCE',
            ...(flags.digests === true ? ['DIGEST'] : []),
            'IMAGE ID',
            'PLATFORM',
            'SIZE',
            'LAST USED',
          ],
        ];
        const now = realClock.now();
        for (const img of images) {
          const tags = img.references.filter((r) => !r.includes('@'));
          for (const ref of tags.length === 0 ? ['<none>'] : tags) {
            const p = parseImageReference(ref);
            rows.push([
              p.ok ? familiarReference(p.ref) : ref,
              ...(flags.digests === true ? [img.digest] : []),
              img.configDigest.slice(7, 19),
              img.platform,
              formatBytes(img.size),
              ago(now - img.lastUsedAt),
            ]);
          }
        }
        process.stdout.write(table(rows));
        return Promise.resolve();
      });
    })
    .addHelpText('after', '\nExample:\n  berth image ls --data-dir /var/lib/berth-agent');

  const pullCmd = withCommon(
    new Command('pull').description('pull an image from its registry (or a configured mirror)'),
  )
    .argument('<reference>', 'image reference, e.g. nginx:1.25 or registry:5000/team/app@sha256:…')
    .option('--platform <os/arch[/variant]>', 'platform to pull from a multi-platform image')
    .option('--creds <user:password>', 'registry credentials for this pull', parseCreds)
    .option('--layer-concurrency <n>', 'layers downloaded at once', positiveInt, 3)
    .option('-q, --quiet', 'print only the resolved digest')
    .action(
      async (
        ref: string,
        flags: CommonFlags & {
          platform?: string;
          creds?: RegistryCredentials;
          layerConcurrency: number;
          quiet?: boolean;
        },
      ) => {
        const parsed = parseImageReference(ref);
        if (!parsed.ok) throw new BerthError(errorCodes.CONFIG_INVALID, parsed.message);
        await withService(
          flags,
          async (s) => {
            const renderer = new PullProgressRenderer(
              {
                write: (t) => process.stderr.write(t),
                isTTY: process.stderr.isTTY,
                columns: process.stderr.columns,
              },
              () => realClock.now(),
            );
            const started = realClock.now();
            const r = await s.pull(ref, {
              ...(flags.quiet === true ? {} : { onProgress: renderer.onProgress }),
              ...(flags.platform === undefined ? {} : { platform: flags.platform }),
              ...(flags.creds === undefined
                ? {}
                : { credentials: new Map([[parsed.ref.domain, flags.creds]]) }),
            });
            renderer.finish();
            if (!r.ok) throw new BerthError(errorCodes.IMAGE_REGISTRY, `${r.reason}: ${r.message}`);
            if (flags.quiet === true) {
              process.stdout.write(`${r.image.digest}\n`);
              return;
            }
            const secs = ((realClock.now() - started) / 1000).toFixed(1);
            process.stdout.write(
              `Digest: ${r.image.digest}\nPulled ${r.image.references[0] ?? ref} (${formatBytes(r.image.size)}) in ${secs}s\n`,
            );
          },
          {
            layerConcurrency: flags.layerConcurrency,
            ...(flags.platform === undefined ? {} : { platform: flags.platform }),
          },
        );
      },
    );

  const rmCmd = withCommon(
    new Command('rm')
      .alias('rmi')
      .description('remove images (a reference untags; the last tag or an id removes)'),
  )
    .argument('<references...>')
    .action(async (refs: string[], flags: CommonFlags) => {
      await withService(flags, async (s) => {
        const missing: string[] = [];
        for (const r of refs) {
          if (await s.remove(r)) process.stdout.write(`Deleted: ${r}\n`);
          else missing.push(r);
        }
        if (missing.length > 0)
          throw new BerthError(errorCodes.IMAGE_STORE, `no such image: ${missing.join(', ')}`);
      });
    });

  const pruneCmd = withCommon(
    new Command('prune').description('remove images no container uses (dangling only unless --all)'),
  )
    .option('-a, --all', 'remove every unused image, not just untagged ones')
    .action(async (flags: CommonFlags & { all?: boolean }) => {
      await withService(flags, async (s) => {
        const r = await s.prune({ all: flags.all === true });
        for (const img of r.removed)
          process.stdout.write(`Deleted: ${img.references.find((x) => !x.includes('@')) ?? img.digest}\n`);
        process.stdout.write(`Total reclaimed space: ${formatBytes(r.freedBytes)}\n`);
      });
    });

  const inspectCmd = withCommon(
    new Command('inspect').description('show everything recorded about images, as JSON'),
  )
    .argument('<references...>')
    .action(async (refs: string[], flags: CommonFlags) => {
      await withService(flags, (s) => {
        const out = refs.map((r) => {
          const img = s.inspect(r);
          if (img === undefined) throw new BerthError(errorCodes.IMAGE_STORE, `no such image: ${r}`);
          return img;
        });
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
        return Promise.resolve();
      });
    });

  const importCmd = withCommon(
    new Command('import').description(
      'import images from an OCI layout tar or a `docker save` tar ("-" for stdin)',
    ),
  )
    .argument('<file>')
    .option('--name <repository>', 'repository for images the archive names only by tag')
    .action(async (file: string, flags: CommonFlags & { name?: string }) => {
      const input: Readable = file === '-' ? process.stdin : createReadStream(file);
      await withService(flags, async (s) => {
        const imported = await s.importArchive(
          input,
          flags.name === undefined ? {} : { baseName: flags.name },
        );
        for (const img of imported) {
          process.stdout.write(
            `Imported ${img.references.find((r) => !r.includes('@')) ?? img.digest} (${img.digest})\n`,
          );
        }
      });
    });

  const exportCmd = withCommon(
    new Command('export').description('export images as one tar (OCI layout + docker manifest.json)'),
  )
    .argument('<references...>')
    .requiredOption('-o, --output <file>', 'file to write ("-" for stdout)')
    .action(async (refs: string[], flags: CommonFlags & { output: string }) => {
      const output: Writable = flags.output === '-' ? process.stdout : createWriteStream(flags.output);
      await withService(flags, (s) => s.exportArchive(refs, output));
    });

  for (const c of [lsCmd, pullCmd, rmCmd, pruneCmd, inspectCmd, importCmd, exportCmd]) image.addCommand(c);
  return image;
}
