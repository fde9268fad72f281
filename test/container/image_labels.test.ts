// The project image describes itself with its own OCI annotations (labels), not with those
// it inherits from its local base image (ecc-cache-base, whose title and description say
// "base"). Checked on the built image ($ECC_CACHE_IMAGE, default ecc-cache:dev) with
// `docker image inspect`:
// - title is the package name, version and licenses are package.json's;
// - source and revision are what docker/build_args.sh derives from this checkout (the
//   script scripts/ci_docker.sh builds with); a revision other than HEAD must still be a
//   commit of this repository (the image was built before the latest commits);
// - the description is the image's own, and base.name names the base image.
// Skipped, with the reason, without a Docker engine or the image; with
// ECC_CACHE_REQUIRE_DOCKER=1 (CI) it fails instead.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { getContainerRuntimeClient } from "testcontainers";
import { REPO } from "./compose_support";
import { IMAGE, REQUIRE_DOCKER, dockerUnavailableReason } from "./docker_support";

const OCI = "org.opencontainers.image";

/** NAME -> value of the `--build-arg NAME=value` lines docker/build_args.sh prints. */
function buildArgs(): Record<string, string> {
  // stderr piped: the script warns there when the checkout has no origin remote.
  const output = execFileSync("bash", [path.join(REPO, "docker", "build_args.sh")], { cwd: REPO, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 10_000 });
  const args: Record<string, string> = {};
  for (const line of output.trim().split("\n")) {
    const match = /^--build-arg ([A-Z_]+)=(\S*)$/.exec(line);
    assert.ok(match !== null, `docker/build_args.sh printed '${line}'`);
    args[match[1]] = match[2];
  }
  return args;
}

describe("the project image's OCI labels (skipped without Docker)", function () {
  this.timeout(60_000);
  let labels: Record<string, string> = {};
  let baseImageLabels: (name: string) => Promise<Record<string, string> | null> = async () => null;

  before(async function () {
    const reason = await dockerUnavailableReason();
    if (reason !== null) {
      if (REQUIRE_DOCKER) throw new Error(`ECC_CACHE_REQUIRE_DOCKER=1 but ${reason}`);
      console.log(`      skipping the image label test: ${reason}`);
      this.skip();
    }
    const docker = (await getContainerRuntimeClient()).container.dockerode;
    labels = ((await docker.getImage(IMAGE).inspect()).Config.Labels ?? {}) as Record<string, string>;
    baseImageLabels = async (name) => {
      const images = await docker.listImages({ filters: { reference: [name] } });
      if (images.length === 0) return null;
      return ((await docker.getImage(name).inspect()).Config.Labels ?? {}) as Record<string, string>;
    };
  });

  it("title, version and licenses are the package's; the description is not the base image's", async () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")) as { name: string; version: string; license: string };
    assert.equal(labels[`${OCI}.title`], pkg.name);
    assert.equal(labels[`${OCI}.version`], pkg.version);
    assert.equal(labels[`${OCI}.licenses`], pkg.license);
    const base = labels[`${OCI}.base.name`] ?? "";
    assert.notEqual(base, "", "base.name names the base image");
    const description = labels[`${OCI}.description`] ?? "";
    assert.notEqual(description, "");
    // The base image, when it is here (it is where scripts/ci_docker.sh built the image).
    const baseLabels = await baseImageLabels(base);
    if (baseLabels !== null) {
      assert.notEqual(description, baseLabels[`${OCI}.description`], "the description is inherited from the base image");
      assert.notEqual(labels[`${OCI}.title`], baseLabels[`${OCI}.title`]);
    }
  });

  it("source and revision come from this checkout, as docker/build_args.sh derives them", () => {
    const args = buildArgs();
    assert.equal(labels[`${OCI}.source`], args.ECC_CACHE_SOURCE);
    assert.equal(labels[`${OCI}.version`], args.ECC_CACHE_VERSION);
    const revision = labels[`${OCI}.revision`] ?? "";
    if (args.ECC_CACHE_REVISION === "unknown") {
      assert.equal(revision, "unknown");
    } else if (revision !== args.ECC_CACHE_REVISION) {
      // Built from an earlier commit: still one of this repository's.
      assert.match(revision, /^[0-9a-f]{40}$/);
      const kind = execFileSync("git", ["cat-file", "-t", revision], { cwd: REPO, encoding: "utf8", timeout: 10_000 }).trim();
      assert.equal(kind, "commit", `revision ${revision} is not a commit of this repository`);
    }
  });
});

describe("docker/build_args.sh: the label values from a checkout (no Docker needed)", function () {
  this.timeout(30_000);
  let dir = "";
  beforeEach(() => {
    // A scratch checkout: the script, a package.json, one commit, an origin remote.
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ecc-build-args-"));
    fs.mkdirSync(path.join(dir, "docker"));
    fs.copyFileSync(path.join(REPO, "docker", "build_args.sh"), path.join(dir, "docker", "build_args.sh"));
    fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "ecc-cache", version: "1.2.3", license: "MIT" }));
    for (const args of [["init", "-q"], ["add", "."], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "x"]]) {
      execFileSync("git", args, { cwd: dir, timeout: 10_000 });
    }
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  function argsWithOrigin(origin: string | null, env: NodeJS.ProcessEnv = {}): Record<string, string> {
    if (origin !== null) execFileSync("git", ["remote", "add", "origin", origin], { cwd: dir, timeout: 10_000 });
    const output = execFileSync("bash", [path.join(dir, "docker", "build_args.sh")], { cwd: os.tmpdir(), encoding: "utf8", env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], timeout: 10_000 });
    return Object.fromEntries(output.trim().split("\n").map((line) => line.replace(/^--build-arg /, "").split("=") as [string, string]));
  }

  it("version and licenses from package.json, revision HEAD, source the origin without credentials", () => {
    const head = execFileSync("git", ["rev-parse", "HEAD"], { cwd: dir, encoding: "utf8" }).trim();
    const args = argsWithOrigin("https://builder:s3cret-token@git.example.org/team/ecc-cache.git");
    assert.deepEqual(args, { ECC_CACHE_VERSION: "1.2.3", ECC_CACHE_LICENSES: "MIT", ECC_CACHE_REVISION: head, ECC_CACHE_SOURCE: "https://git.example.org/team/ecc-cache" });
  });

  it("ssh remotes become https URLs; ECC_CACHE_SOURCE_URL wins; no remote is 'unknown'", () => {
    assert.equal(argsWithOrigin("git@github.com:team/ecc-cache.git").ECC_CACHE_SOURCE, "https://github.com/team/ecc-cache");
    execFileSync("git", ["remote", "remove", "origin"], { cwd: dir });
    assert.equal(argsWithOrigin("ssh://git@git.example.org:2222/team/ecc-cache.git").ECC_CACHE_SOURCE, "https://git.example.org/team/ecc-cache");
    assert.equal(argsWithOrigin(null, { ECC_CACHE_SOURCE_URL: "https://example.org/x" }).ECC_CACHE_SOURCE, "https://example.org/x");
    execFileSync("git", ["remote", "remove", "origin"], { cwd: dir });
    assert.equal(argsWithOrigin(null).ECC_CACHE_SOURCE, "unknown");
  });
});
