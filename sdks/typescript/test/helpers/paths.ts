import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** sdks/typescript (compiled tests live in sdks/typescript/build/test/...). */
export const SDK_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
/** The repository root. */
export const REPO_DIR = resolve(SDK_DIR, "..", "..");
export const VECTORS_DIR = join(REPO_DIR, "tests", "vectors");
export const OPENAPI_PATH = join(REPO_DIR, "docs", "openapi.json");
export const EXAMPLES_SRC_DIR = join(REPO_DIR, "examples", "ts");
