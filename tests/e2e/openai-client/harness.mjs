// Shared by the server tests and benchmarks: makes a small random model with DeepSeek's real
// vocabulary and tokenizer, and starts / stops `dsinfer serve` on a free port.
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

// The interpreter with numpy (CMake passes ${DSINFER_PYTHON}; Debian's by default).
const PYTHON = process.env.DSINFER_PYTHON || (fs.existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3");

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

/// Writes a v3-tiny model (vocab 129280) with the V3 tokenizer and the V3 or R1 template.
export function makeModel(dir, template = "v3", extra = []) {
  if (!fs.existsSync(path.join(dir, "model.safetensors"))) {
    execFileSync(PYTHON, [path.join(ROOT, "tools/testmodel/make_model.py"), "--preset", "v3-tiny",
      "--out", dir, "--set", "vocab_size=129280", ...extra], { stdio: "pipe" });
  }
  const tok = path.join(ROOT, "tests/data/tokenizer");
  fs.copyFileSync(path.join(tok, "deepseek-v3/tokenizer.json"), path.join(dir, "tokenizer.json"));
  fs.copyFileSync(path.join(tok, template === "r1" ? "deepseek-r1/tokenizer_config.json"
                                                   : "deepseek-v3/tokenizer_config.json"),
                  path.join(dir, "tokenizer_config.json"));
  return dir;
}

export function tempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/// Starts `dsinfer serve` with `args`; resolves to {url, port, proc, stderr(), stop()}.
export function startServer(dsinfer, args, { timeoutMs = 60000 } = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(dsinfer, ["serve", "--port", "0", ...args], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    const timer = setTimeout(() => reject(new Error("server did not start:\n" + err)), timeoutMs);
    proc.stderr.on("data", (d) => {
      err += d.toString();
      const m = err.match(/on http:\/\/([^:\s]+):(\d+)/);
      if (m && !proc.started) {
        proc.started = true;
        clearTimeout(timer);
        const port = Number(m[2]);
        resolve({
          url: `http://127.0.0.1:${port}`, port, proc, stderr: () => err,
          stop: (signal = "SIGTERM") => new Promise((res) => {
            if (proc.exitCode !== null) return res(proc.exitCode);
            proc.once("exit", (code, sig) => res(code ?? sig));
            proc.kill(signal);
          }),
        });
      }
    });
    proc.once("exit", (code) => { clearTimeout(timer); if (!proc.started) reject(new Error(`server exited ${code}:\n${err}`)); });
  });
}

/// Resident memory of a process in KiB (Linux).
export function rssKiB(pid) {
  const s = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(s.match(/VmRSS:\s+(\d+)/)[1]);
}

export async function metrics(url) {
  const t = await (await fetch(url + "/metrics")).text();
  const out = {};
  for (const line of t.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return out;
}
