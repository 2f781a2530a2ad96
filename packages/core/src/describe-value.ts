/**
 * How every lameduck error message prints the value it was given. One helper, so that a message never
 * reads "got ." for an empty string or "got a Object." for `{}`: strings are JSON-quoted, plain objects
 * and arrays print their first few entries one level deep, anything else gets a short phrase. It never
 * throws (a getter, a Proxy or a BigInt must not turn a validation error into a TypeError), and it stays
 * short, because the value is one part of a one-sentence message.
 *
 * @example
 * describeValue('')            // '""'
 * describeValue({})            // '{}'
 * describeValue(['SIGTREM'])   // '["SIGTREM"]'
 * describeValue(console.log)   // 'a function (log)'
 * describeValue(new Map())     // 'a Map'
 */
export function describeValue(value: unknown): string {
  try {
    return format(value, true);
  } catch {
    return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
  }
}

const maxString = 40;
const maxEntries = 3;

function format(value: unknown, top: boolean): string {
  switch (typeof value) {
    case 'string':
      return value.length > maxString
        ? `${JSON.stringify(value.slice(0, maxString)).slice(0, -1)}…"`
        : JSON.stringify(value);
    case 'bigint':
      return `${value}n`;
    case 'symbol':
      return value.toString();
    case 'function':
      if (!top) return 'a function';
      return value.name ? `a function (${value.name})` : 'a function';
    case 'object':
      if (value === null) return 'null';
      if (Array.isArray(value)) return top ? formatArray(value) : value.length === 0 ? '[]' : '[…]';
      if (isPlain(value)) return top ? formatObject(value) : Object.keys(value).length === 0 ? '{}' : '{…}';
      return withArticle(constructorName(value));
    default:
      // numbers (NaN and Infinity included), booleans and undefined read well as they are.
      return String(value);
  }
}

function formatArray(value: readonly unknown[]): string {
  const items = value.slice(0, maxEntries).map((item) => format(item, false));
  if (value.length > maxEntries) items.push('…');
  return `[${items.join(', ')}]`;
}

function formatObject(value: object): string {
  const keys = Object.keys(value);
  if (keys.length === 0) return '{}';
  const entries = keys
    .slice(0, maxEntries)
    .map(
      (key) =>
        `${/^[A-Za-z_$][\w$]*$/.test(key) ? key : JSON.stringify(key)}: ${format((value as Record<string, unknown>)[key], false)}`,
    );
  if (keys.length > maxEntries) entries.push('…');
  return `{ ${entries.join(', ')} }`;
}

/** An object literal or `Object.create(null)`: printed by its contents, not by its class. */
function isPlain(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === null || proto === Object.prototype;
}

function constructorName(value: object): string {
  const name: unknown = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name !== '' ? name : 'object';
}

function withArticle(name: string): string {
  return /^[aeiou]/i.test(name) ? `an ${name}` : `a ${name}`;
}
