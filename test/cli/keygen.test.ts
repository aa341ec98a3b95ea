import { createPrivateKey, createPublicKey } from "node:crypto";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { loadConfig } from "../../src/config/load.js";
import { createSigner } from "../../src/integrity/index.js";
import { lines, run } from "./helpers.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "vigil-keygen-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const keygen = (args: readonly string[]) => run(["keygen", ...args], { cwd: dir });
/** A `${NAME}` reference as the configuration writes it. */
const ref = (name: string) => `$${"{"}${name}}`;
const mode = (path: string) => statSync(path).mode & 0o777;

describe("vigil keygen", () => {
  it("writes an HMAC secret (mode 0600, directory 0700) and prints how to use it, never the secret", async () => {
    const r = await keygen([]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    const file = join(dir, "keys", "vigil-hmac-sha256.key");
    const secret = readFileSync(file, "utf8").trim();
    expect(secret).toMatch(/^[0-9a-f]{64}$/);
    expect(mode(file)).toBe(0o600);
    expect(mode(join(dir, "keys"))).toBe(0o700);
    expect(r.stdout).not.toContain(secret);
    const keyId = createSigner({ algorithm: "hmac-sha256", secret_key: secret }).keyId;
    expect(lines(r.stdout)).toEqual([
      `Wrote an HMAC-SHA256 signing secret (key id ${keyId}):`,
      "  keys/vigil-hmac-sha256.key  mode 0600",
      "",
      "Add to the configuration, under vigil:",
      "  security:",
      `    signing: { enabled: true, algorithm: hmac-sha256, secret_key: "${ref("VIGIL_SIGNING_SECRET")}" }`,
      "",
      "and give the application the key through the environment:",
      '  export VIGIL_SIGNING_SECRET="$(cat keys/vigil-hmac-sha256.key)"',
      "",
      "Keep the key files secret and out of version control.",
    ]);
  });

  it.each([
    ["hmac-sha256", "vigil-hmac-sha256.key", "VIGIL_SIGNING_SECRET"],
    ["ed25519", "vigil-ed25519.pem", "VIGIL_SIGNING_PRIVATE_KEY"],
    ["aes-256-gcm", "vigil-aes-256-gcm.key", "VIGIL_ENCRYPTION_KEY"],
  ])("prints a %s snippet that loads once the variable holds the file", async (algorithm, file, variable) => {
    const r = await keygen(["--algorithm", algorithm]);
    expect(r.code).toBe(0);
    const snippet = r.stdout
      .split("under vigil:\n")[1]!
      .split("\n\n")[0]!
      .split("\n")
      .map((l) => l.slice(2))
      .join("\n");
    // as the printed `export VAR="$(cat FILE)"` sets it: command substitution drops the final newline
    const key = readFileSync(join(dir, "keys", file), "utf8").replace(/\n+$/, "");
    const config = loadConfig(parseYaml(snippet) as object, { env: { [variable]: key } });
    if (algorithm === "aes-256-gcm") {
      expect(config.security.encryption).toMatchObject({ enabled: true, key });
    } else {
      expect(config.security.signing).toMatchObject({ enabled: true, algorithm });
      // the configured key signs with the key id the command printed
      const keyId = /\(key id ([0-9a-f]{16})\)/.exec(r.stdout)![1];
      expect(createSigner(config.security.signing).keyId).toBe(keyId);
    }
  });

  it("writes an Ed25519 key pair, both files mode 0600, and points auditors at the public one", async () => {
    const r = await keygen(["--algorithm", "ed25519", "--name", "audit"]);
    expect(r.code).toBe(0);
    const privatePath = join(dir, "keys", "audit.pem");
    const publicPath = join(dir, "keys", "audit.pub.pem");
    expect(readdirSync(join(dir, "keys")).sort()).toEqual(["audit.pem", "audit.pub.pem"]);
    expect(mode(privatePath)).toBe(0o600);
    expect(mode(publicPath)).toBe(0o600);
    const privatePem = readFileSync(privatePath, "utf8");
    const privateKey = createPrivateKey(privatePem);
    expect(privateKey.asymmetricKeyType).toBe("ed25519");
    const publicKey = createPublicKey(readFileSync(publicPath, "utf8"));
    expect(publicKey.export({ format: "der", type: "spki" })).toEqual(
      createPublicKey(privateKey).export({ format: "der", type: "spki" }),
    );
    // no line of the private key reaches the output
    for (const line of privatePem.split("\n").filter((l) => l.length > 20))
      expect(r.stdout).not.toContain(line);
    const out = lines(r.stdout);
    expect(out[0]).toMatch(/^Wrote an Ed25519 signing key pair \(key id [0-9a-f]{16}\):$/);
    expect(out[1]).toBe("  keys/audit.pem      private key, mode 0600: the application signs with it");
    expect(out[2]).toBe(
      "  keys/audit.pub.pem  public key: auditors verify with it alone (vigil verify --public-key keys/audit.pub.pem)",
    );
    expect(r.stdout).toContain(`private_key: "${ref("VIGIL_SIGNING_PRIVATE_KEY")}"`);
    expect(r.stdout).toContain('export VIGIL_SIGNING_PRIVATE_KEY="$(cat keys/audit.pem)"');
  });

  it("writes an AES-256-GCM key with a key id, quoting a path with spaces for the shell", async () => {
    const r = await keygen(["-a", "aes-256-gcm", "--out", "my keys"]);
    expect(r.code).toBe(0);
    const file = join(dir, "my keys", "vigil-aes-256-gcm.key");
    const key = readFileSync(file, "utf8").trim();
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(mode(file)).toBe(0o600);
    expect(r.stdout).not.toContain(key);
    expect(r.stdout).toMatch(/key: "\$\{VIGIL_ENCRYPTION_KEY\}", key_id: k\d{8}-[0-9a-f]{4} \}/);
    expect(r.stdout).toContain(`export VIGIL_ENCRYPTION_KEY="$(cat 'my keys/vigil-aes-256-gcm.key')"`);
  });

  it("does not replace an existing key without --force (exit 2, the old key untouched)", async () => {
    expect((await keygen([])).code).toBe(0);
    const file = join(dir, "keys", "vigil-hmac-sha256.key");
    const first = readFileSync(file, "utf8");
    const r = await keygen([]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(lines(r.stderr)).toEqual([
      "vigil: keys/vigil-hmac-sha256.key exists: choose another --name or --out, or pass --force to replace it",
    ]);
    expect(readFileSync(file, "utf8")).toBe(first);
  });

  it("with --force, replaces the key and makes the new file mode 0600 whatever the old one had", async () => {
    expect((await keygen([])).code).toBe(0);
    const file = join(dir, "keys", "vigil-hmac-sha256.key");
    const first = readFileSync(file, "utf8");
    chmodSync(file, 0o644);
    const r = await keygen(["--force"]);
    expect(r.code).toBe(0);
    expect(readFileSync(file, "utf8")).not.toBe(first);
    expect(mode(file)).toBe(0o600);
  });

  it.each([
    [
      ["--algorithm", "rsa"],
      /^vigil: option '-a, --algorithm <algorithm>' argument 'rsa' is invalid\. Allowed choices are hmac-sha256, ed25519, aes-256-gcm\.$/,
    ],
    [
      ["--name", "../escape"],
      /^vigil: --name: expected a file name of letters, digits, "\.", "_" and "-" \(no directories\), found "\.\.\/escape"$/,
    ],
    [["--out", "taken"], /^vigil: --out taken is not a directory$/],
  ])("rejects %j with one line and exit status 2", async (args, message) => {
    writeFileSync(join(dir, "taken"), "a file, not a directory\n");
    const r = await keygen(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    const err = lines(r.stderr);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(message);
    expect(readdirSync(dir)).toEqual(["taken"]);
  });
});
