// The signed-in principal as the API describes it (`GET /api/v1/whoami`): tenant, role and the
// permissions (OpenAPI scopes) of that role. Pages show only what these permissions allow; the API
// still decides, and a refusal is shown as one.

import { createContext, useContext } from "react";
import type { WhoAmI } from "@aos/sdk";

export const PrincipalContext = createContext<WhoAmI | null>(null);

export function usePrincipal(): WhoAmI {
  const p = useContext(PrincipalContext);
  if (!p) throw new Error("usePrincipal outside a signed-in page");
  return p;
}

/** Does the principal hold this permission (`runs:read_raw`, `recovery:review`, ...)? */
export function useCan(permission: string): boolean {
  return usePrincipal().permissions.includes(permission);
}
