/**
 * Converts API objects to a `meta.k8s.io` Table, the response kubectl's `get` asks for
 * (shared/reference/kubectl-api.md §4). Each row carries the object as PartialObjectMetadata by
 * default: kubectl needs it for the NAMESPACE column with `-A` and for `--show-labels`/`-L`. The
 * Table's `metadata.resourceVersion` must be the list's, because `get -w` starts watching from it.
 */

import type { ResourceInfo } from '../resources.js';
import { apiVersionOf } from '../resources.js';
import { rec } from './json.js';
import type { Cell, ColumnDefinition, RowCondition } from './printers.js';
import { printerFor } from './printers.js';

/** What each row's `object` holds (the request's `includeObject` query parameter). */
export type IncludeObject = 'None' | 'Metadata' | 'Object';

/** List metadata copied onto the Table (`resourceVersion`, `continue`, `remainingItemCount`). */
export interface TableListMeta {
  readonly resourceVersion?: string;
  readonly continue?: string;
  readonly remainingItemCount?: number;
}

export interface TableOptions {
  readonly includeObject: IncludeObject;
  /**
   * Include priority-1 (`-o wide`) columns. Default true, as kube-apiserver always does: kubectl
   * hides priority-1 columns itself unless `-o wide` is given, so a server must not pass false.
   */
  readonly wide?: boolean;
  /** Milliseconds since the epoch at which ages are computed. */
  readonly now: number;
  readonly listMeta: TableListMeta;
  /** `meta.k8s.io` version of the Table (see `negotiateTable`); default `v1`. */
  readonly version?: 'v1' | 'v1beta1';
  /** Omit column definitions, as for watch events after the first. */
  readonly noHeaders?: boolean;
}

export interface TableRow {
  readonly cells: Cell[];
  readonly object: object | null;
  readonly conditions?: RowCondition[];
}

export interface Table {
  readonly kind: 'Table';
  readonly apiVersion: 'meta.k8s.io/v1' | 'meta.k8s.io/v1beta1';
  readonly metadata: TableListMeta;
  readonly columnDefinitions: ColumnDefinition[];
  readonly rows: TableRow[];
}

/**
 * Builds the Table for `objects` of `resource`, using Kubernetes' columns for the kinds Berth serves
 * and NAME/AGE for any other. Objects are not modified.
 */
export function toTable(resource: ResourceInfo, objects: readonly object[], opts: TableOptions): Table {
  const version = opts.version ?? 'v1';
  const printer = printerFor(resource.group, resource.kind);
  const keep = printer.columns.map((c) => opts.wide !== false || c.priority === 0);
  const rows = objects.map((obj): TableRow => {
    const cells = printer.cells(obj, opts.now).filter((_, i) => keep[i] === true);
    const conditions = printer.conditions?.(obj);
    return {
      cells,
      object: rowObject(resource, obj, opts.includeObject, version),
      ...(conditions === undefined ? {} : { conditions }),
    };
  });
  return {
    kind: 'Table',
    apiVersion: `meta.k8s.io/${version}`,
    metadata: { ...opts.listMeta },
    columnDefinitions: opts.noHeaders === true ? [] : printer.columns.filter((_, i) => keep[i] === true),
    rows,
  };
}

function rowObject(
  resource: ResourceInfo,
  obj: object,
  include: IncludeObject,
  version: string,
): object | null {
  switch (include) {
    case 'None':
      return null;
    case 'Object':
      // List items may lack kind/apiVersion; a row object stands alone, so it must carry them.
      return { ...obj, apiVersion: apiVersionOf(resource), kind: resource.kind };
    case 'Metadata':
      return {
        kind: 'PartialObjectMetadata',
        apiVersion: `meta.k8s.io/${version}`,
        metadata: rec((obj as Record<string, unknown>)['metadata']) ?? {},
      };
  }
}
