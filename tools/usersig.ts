// Prints a UserSig for local use: npm run usersig -- <user_id> [expire_seconds]
// Uses APP_ID and APP_SECRET_KEY from the environment, like the server.
import { generateUserSig } from "../src/auth/usersig.js";
import { isValidUserId } from "../src/common/user-id.js";
import { readConfig } from "../src/config/config.js";
import { ConfigError } from "../src/config/settings.js";

const [userId, expireArg] = process.argv.slice(2);
if (userId === undefined || !isValidUserId(userId)) {
  process.stderr.write("usage: npm run usersig -- <user_id> [expire_seconds, default 86400]\n");
  process.exit(2);
}
const expireSec = expireArg === undefined ? 86_400 : Number(expireArg);
if (!Number.isSafeInteger(expireSec) || expireSec <= 0) {
  process.stderr.write("expire_seconds must be a positive integer\n");
  process.exit(2);
}
try {
  const { appId, secretKey, devSecretKey } = readConfig(process.env);
  if (devSecretKey) {
    process.stderr.write("note: APP_SECRET_KEY unset, signing with the development key\n");
  }
  process.stdout.write(`${generateUserSig({ appId, secretKey, userId, expireSec })}\n`);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exit(2);
}
