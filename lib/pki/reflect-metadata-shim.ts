/**
 * The smallest Reflect metadata API that lets `@peculiar/x509` load. Its dependency tsyringe refuses
 * to start unless `Reflect.getMetadata` exists ("tsyringe requires a reflect polyfill"), and reads or
 * writes metadata only through `getMetadata`, `getOwnMetadata` and `defineMetadata`. The usual answer
 * is the `reflect-metadata` package, which is not a dependency of Berth; this shim covers the three
 * calls and steps aside when a real polyfill is already installed. Import it for its side effect,
 * before `@peculiar/x509` (lib/pki/x509-setup.ts does).
 */

type MetadataKey = unknown;
type PropertyKeyOrNone = string | symbol | undefined;

interface ReflectMetadataApi {
  getMetadata?: (key: MetadataKey, target: object, property?: PropertyKeyOrNone) => unknown;
  getOwnMetadata?: (key: MetadataKey, target: object, property?: PropertyKeyOrNone) => unknown;
  defineMetadata?: (key: MetadataKey, value: unknown, target: object, property?: PropertyKeyOrNone) => void;
}

const reflect = Reflect as unknown as ReflectMetadataApi;

if (reflect.getMetadata === undefined) {
  const store = new WeakMap<object, Map<PropertyKeyOrNone, Map<MetadataKey, unknown>>>();

  const ownTable = (
    target: object,
    property: PropertyKeyOrNone,
    create: boolean,
  ): Map<MetadataKey, unknown> | undefined => {
    let byProperty = store.get(target);
    if (byProperty === undefined) {
      if (!create) return undefined;
      byProperty = new Map();
      store.set(target, byProperty);
    }
    let table = byProperty.get(property);
    if (table === undefined && create) {
      table = new Map();
      byProperty.set(property, table);
    }
    return table;
  };

  reflect.defineMetadata = (key, value, target, property) => {
    ownTable(target, property, true)?.set(key, value);
  };
  reflect.getOwnMetadata = (key, target, property) => ownTable(target, property, false)?.get(key);
  // Like the proposal: look up the prototype chain until some object has the key.
  reflect.getMetadata = (key, target, property) => {
    for (let o: object | null = target; o !== null; o = Object.getPrototypeOf(o) as object | null) {
      const table = ownTable(o, property, false);
      if (table?.has(key) === true) return table.get(key);
    }
    return undefined;
  };
}

export {};
