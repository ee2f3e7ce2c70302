/**
 * What global setup hands to the test workers (vitest `provide`/`inject`): for each shared
 * service either a URL or the reason there is none, so tests that need it fail loudly.
 */
export type ServiceEndpoint =
  | { readonly url: string; readonly source: "env" | "docker" | "local" }
  | { readonly error: string };

declare module "vitest" {
  export interface ProvidedContext {
    imTestMongo: ServiceEndpoint;
    imTestNats: ServiceEndpoint;
  }
}
