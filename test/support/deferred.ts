export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
}

/** A promise settled from outside: a test's hand-made signal between two async parties. */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
