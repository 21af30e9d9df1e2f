/** What route handlers get: the services, and the authenticated principal of a request. */
import type { FastifyRequest } from 'fastify';
import { apiVersionOf, type ApiVersion } from '@opencvm/core';
import type { Db } from '../db/index.ts';
import type { AuthService, Principal } from '../services/auth.ts';
import type { CatalogService } from '../services/catalog.ts';
import type { ReadService } from '../services/reads.ts';
import type { DeployService } from '../services/deploy.ts';
import type { ChainService } from '../services/chain.ts';
import type { AllowlistService } from '../services/allowlists.ts';
import type { KmsService } from '../services/kms.ts';
import type { KmsAuthService } from '../services/kms-auth.ts';
import type { LifecycleService } from '../services/lifecycle.ts';
import type { LogUrlService } from '../services/log-urls.ts';
import type { NodeService } from '../services/nodes.ts';
import type { AdminKey, HostService } from '../services/hosts.ts';
import type { RuntimeService } from '../services/runtime.ts';
import type { UpdateService } from '../services/updates.ts';
import type { CvmOpsService } from '../services/cvm-ops.ts';
import type { InstanceIdService } from '../services/instance-ids.ts';
import type { HealthService } from '../services/health.ts';
import type { MetricsService } from '../services/metrics.ts';
import type { StateHub } from '../services/state-hub.ts';
import type { TokenService } from '../services/tokens.ts';
import type { MemberService } from '../services/members.ts';
import type { SshKeyService } from '../services/ssh-keys.ts';
import type { AttestationService } from '../services/attestations.ts';
import type { RateLimits } from './rate-limit.ts';
import type { CvmAttestationService } from '../services/cvm-attestation.ts';
import type { WebhookService } from '../services/webhooks.ts';

export interface Services {
  db: Db;
  auth: AuthService;
  /** the workspace's API tokens (`/tokens`) */
  tokens: TokenService;
  /** workspaces, members, invitations; the operator's workspaces and users */
  members: MemberService;
  kms: KmsService;
  /** reads of the ETHEREUM / BASE chains' KMS and app contracts */
  chain: ChainService;
  /** dstack-kms's auth webhook, answered from the chains */
  kmsAuth: KmsAuthService;
  /** what the chain (on-chain KMS) or the records (PHALA) allow an app to boot, and where */
  allowlists: AllowlistService;
  nodes: NodeService;
  /** the host registry (the admin API) */
  hosts: HostService;
  /** who may call the admin API (`X-Admin-Key`) */
  adminKey: AdminKey;
  deploy: DeployService;
  lifecycle: LifecycleService;
  reads: ReadService;
  catalog: CatalogService;
  runtime: RuntimeService;
  logUrls: LogUrlService;
  updates: UpdateService;
  /** a new name, `listed`, a scheduled delete, a batch stop */
  cvmOps: CvmOpsService;
  instanceIds: InstanceIdService;
  health: HealthService;
  metrics: MetricsService;
  /** CVM state changes for the state watches (one LISTEN per server) */
  stateHub: StateHub;
  /** the callers' SSH public keys (and the GitHub import) */
  sshKeys: SshKeyService;
  /** Phala's quote verification API (`/attestations/*`) */
  attestations: AttestationService;
  /** a CVM's attestation evidence, read from its guest agent */
  cvmAttestation: CvmAttestationService;
  /** the workspace's webhooks (`/workspace/webhooks…`) */
  webhooks: WebhookService;
  /** the server's public base URL (known once it listens) */
  publicUrl(): string;
  /** the rate limits (per client address, per API key on mutations), in this process's memory */
  limits: RateLimits;
}

/** The caller's principal: resolves the `X-API-Key` header or throws a 401. */
export function principal(services: Services, req: FastifyRequest): Promise<Principal> {
  const key = req.headers['x-api-key'];
  return services.auth.authenticate(Array.isArray(key) ? key[0] : key);
}

export function versionOf(req: FastifyRequest): ApiVersion {
  return apiVersionOf(req.headers['x-phala-version']);
}
