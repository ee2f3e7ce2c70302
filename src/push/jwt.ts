import { createPrivateKey, type KeyObject, sign } from "node:crypto";

const b64url = (data: Buffer | string): string => Buffer.from(data).toString("base64url");

/**
 * A compact JWS: ES256 (APNs provider tokens; the signature in the JOSE r||s
 * form, not DER) or RS256 (Google service-account assertions).
 */
export function signJwt(
  alg: "ES256" | "RS256",
  header: Record<string, string>,
  claims: Record<string, string | number>,
  key: KeyObject,
): string {
  const input = `${b64url(JSON.stringify({ alg, typ: "JWT", ...header }))}.${b64url(JSON.stringify(claims))}`;
  const signature =
    alg === "ES256"
      ? sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" })
      : sign("sha256", Buffer.from(input), key);
  return `${input}.${b64url(signature)}`;
}

/**
 * Reads a PEM private key, checking it is of the kind the provider needs
 * (APNs: an EC P-256 .p8 key; FCM: the service account's RSA key). Throws an
 * Error naming `setting` otherwise.
 */
export function loadPrivateKey(pem: string, kind: "ec-p256" | "rsa", setting: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw new Error(`${setting}: not a readable PEM private key`, { cause: err });
  }
  const ok =
    kind === "rsa"
      ? key.asymmetricKeyType === "rsa"
      : key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1";
  if (!ok) throw new Error(`${setting}: expected ${kind === "rsa" ? "an RSA" : "an EC P-256"} key`);
  return key;
}
