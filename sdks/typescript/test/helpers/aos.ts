// Starts a real `aos serve` on a random port with a fresh data directory, and stops it by PID.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";

export interface AosServer {
  url: string;
  apiKey: string;
  dataDir: string;
  pid: number;
  /** Everything the server wrote to stderr so far (its log). */
  log(): string;
  stop(): Promise<void>;
}

/** The `aos` binary: `AOS_BIN`, else ~/.cache/aos-target/debug/aos. Throws when it is missing. */
export function aosBinary(): string {
  const bin = process.env.AOS_BIN || join(homedir(), ".cache", "aos-target", "debug", "aos");
  if (!existsSync(bin)) {
    throw new Error(
      `aos binary not found at ${bin}. Build it with ` +
        "`CARGO_TARGET_DIR=~/.cache/aos-target cargo build -p aos-cli` or set AOS_BIN to its path.",
    );
  }
  return bin;
}

export async function startAos(extraEnv: Record<string, string> = {}): Promise<AosServer> {
  const bin = aosBinary();
  const root = mkdtempSync(join(tmpdir(), "aos-sdk-ts-"));
  const dataDir = join(root, "data");
  const child: ChildProcess = spawn(bin, ["serve", "--port", "0", "--data-dir", dataDir], {
    env: { ...process.env, AOS_HTTP_ALLOW_HOSTS: "127.0.0.1", ...extraEnv },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (d: string) => {
    stderr += d;
  });
  const url = await new Promise<string>((resolve, reject) => {
    let stdout = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`aos serve did not start within 30 s\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, 30_000);
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (d: string) => {
      stdout += d;
      const m = /AOS listening on (http:\/\/[0-9.]+:\d+)/.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`aos serve exited with ${code} before listening\nstdout: ${stdout}\nstderr: ${stderr}`));
    });
  });
  const apiKey = readFileSync(join(dataDir, "admin.key"), "utf8").trim();
  const pid = child.pid!;
  let stopped = false;
  return {
    url,
    apiKey,
    dataDir,
    pid,
    log: () => stderr,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
        process.kill(pid, "SIGTERM");
        const t = setTimeout(() => {
          if (child.exitCode === null && child.signalCode === null) process.kill(pid, "SIGKILL");
        }, 5_000);
        await exited;
        clearTimeout(t);
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
}
