/**
 * The subset of dstack-vmm's pRPC API (JSON mode: `POST /prpc/<Method>?json`) that opencvm uses, declared
 * once for the host driver (which parses every answer with these schemas instead of trusting it) and the
 * simulated host (which builds its answers as these types). The messages follow dstack's
 * `vmm/rpc/proto/vmm_rpc.proto`; as in dstack's JSON mode, a field a host leaves out takes its protobuf
 * default, so every field here has one. Errors are HTTP 400 `{"error": "..."}`.
 * The guest agent's API, which the host proxies at `/guest/<Method>`, follows dstack's
 * `guest-api/proto/guest_api.proto`; the KMS's `GetAppKey` follows `kms/rpc/proto/kms_rpc.proto`.
 */
import { z } from 'zod';

const str = z.string().default('');
const num = z.number().int().nonnegative().default(0);
const bool = z.boolean().default(false);
const list = <T extends z.ZodType>(item: T) => z.array(item).default([]);

export const portMappingSchema = z.object({ protocol: str, host_port: num, vm_port: num, host_address: str });
export const gpuConfigSchema = z.object({ gpus: list(z.object({ slot: str })), attach_mode: str });
export const networkingConfigSchema = z.object({ mode: str, bridge_name: str });

/** `VmConfiguration`: what `CreateVm` takes (and `GetInfo` reports back as `configuration`). */
export const vmConfigurationSchema = z.object({
  name: str,
  image: str,
  compose_file: str,
  vcpu: num,
  memory: num,
  disk_size: num,
  ports: list(portMappingSchema),
  encrypted_env: str,
  app_id: z.string().nullable().default(null),
  user_config: str,
  hugepages: bool,
  pin_numa: bool,
  gpus: gpuConfigSchema.nullable().default(null),
  kms_urls: list(z.string()),
  gateway_urls: list(z.string()),
  stopped: bool,
  no_tee: bool,
  networking: networkingConfigSchema.nullable().default(null),
  networks: list(networkingConfigSchema),
  simulated_tee: z.string().nullable().default(null),
});
export type VmConfiguration = z.output<typeof vmConfigurationSchema>;
/** What a caller sends to `CreateVm`: any field may be left to its default. */
export type VmConfigurationInput = z.input<typeof vmConfigurationSchema>;

export const guestEventSchema = z.object({ event: str, body: str, timestamp: num });

export const vmInterfaceSchema = z.object({
  mode: str,
  backend: str,
  mac: str,
  bridge_name: z.string().nullable().default(null),
  netdev_id: z.string().nullable().default(null),
});

/** `VmInfo`: one VM as `Status` and `GetInfo` report it. */
export const vmInfoSchema = z.object({
  id: z.string(),
  name: str,
  /** running | stopping | stopped | exited | removing (dstack-vmm's own words) */
  status: str,
  uptime: str,
  app_url: z.string().nullable().default(null),
  app_id: str,
  instance_id: z.string().nullable().default(null),
  configuration: vmConfigurationSchema.nullable().default(null),
  exited_at: z.string().nullable().default(null),
  boot_progress: str,
  boot_error: str,
  shutdown_progress: str,
  image_version: str,
  events: list(guestEventSchema),
  interfaces: list(vmInterfaceSchema),
});
export type VmInfo = z.output<typeof vmInfoSchema>;

/** `Id` → `{}`: StartVm, StopVm, ShutdownVm, RemoveVm. */
export const idSchema = z.object({ id: z.string() });
/** `CreateVm` / `UpdateVm` answer. */
export const idResultSchema = z.object({ id: str });
export const emptyResultSchema = z.object({});

/** `GetInfo` → `{found, info?}`. */
export const getInfoResultSchema = z.object({ found: bool, info: vmInfoSchema.nullable().optional() });
/** `Status` request and answer. */
export const statusRequestSchema = z.object({
  ids: list(z.string()),
  keyword: str,
  brief: bool,
  page: num,
  page_size: num,
});
export const statusResultSchema = z.object({ vms: list(vmInfoSchema), port_mapping_enabled: bool, total: num });

/** `UpdateVm` (`UpdateVmRequest`): only the fields given change; resources need a stopped VM. */
export const updateVmRequestSchema = z.object({
  id: z.string(),
  compose_file: z.string().optional(),
  encrypted_env: z.string().optional(),
  user_config: z.string().optional(),
  vcpu: z.number().int().optional(),
  memory: z.number().int().optional(),
  disk_size: z.number().int().optional(),
  image: z.string().optional(),
});
export type UpdateVmRequest = z.input<typeof updateVmRequestSchema>;

/** `GetMeta`: where the host's KMS and gateway are, and what it can hold. */
export const hostMetaSchema = z.object({
  kms: z.object({ url: str, urls: list(z.string()) }).default({ url: '', urls: [] }),
  gateway: z.object({ url: str, base_domain: str, port: num, agent_port: num, urls: list(z.string()) }).default({ url: '', base_domain: '', port: 0, agent_port: 0, urls: [] }),
  resources: z
    .object({ max_cvm_number: num, max_allocable_vcpu: num, max_allocable_memory_in_mb: num })
    .default({ max_cvm_number: 0, max_allocable_vcpu: 0, max_allocable_memory_in_mb: 0 }),
});
export type HostMeta = z.output<typeof hostMetaSchema>;

export const hostImageSchema = z.object({ name: str, description: str, version: str, is_dev: bool });
export const listImagesResultSchema = z.object({ images: list(hostImageSchema) });
export type HostImage = z.output<typeof hostImageSchema>;

/** `ListGpus`: the host's GPUs (`allow_attach_all`: whether a VM may take all of them at once). */
export const hostGpuSchema = z.object({ slot: str, product_id: str, description: str, is_free: bool });
export const listGpusResultSchema = z.object({ gpus: list(hostGpuSchema), allow_attach_all: bool });
export type HostGpu = z.output<typeof hostGpuSchema>;

export const versionResultSchema = z.object({ version: str, rev: str });

/** The guest agent's `ListContainers` (proxied by the host at `/guest/ListContainers`). */
export const guestContainerSchema = z.object({
  id: str,
  names: list(z.string()),
  image: str,
  image_id: str,
  command: z.string().nullable().default(null),
  created: z.number().default(0),
  state: str,
  status: str,
});
export type GuestContainer = z.output<typeof guestContainerSchema>;
export const listContainersResultSchema = z.object({ containers: list(guestContainerSchema) });

/** The guest agent's `NetworkInfo`. */
export const guestNetworkSchema = z.object({
  dns_servers: list(z.string()),
  gateways: list(z.object({ address: str })),
  interfaces: list(
    z.object({
      name: str,
      addresses: list(z.object({ address: str, prefix: num })),
      rx_bytes: num,
      tx_bytes: num,
      rx_errors: num,
      tx_errors: num,
    }),
  ),
  wg_info: str,
});
export type GuestNetwork = z.output<typeof guestNetworkSchema>;

/**
 * The guest agent's `Info` (dstack's `guest-api` AppInfo, proxied at `/guest/Info`): hex ids and measurements,
 * the RA-TLS app certificate chain (PEM), and `tcb_info`, a JSON *text* (empty unless the app-compose sets
 * `public_tcbinfo`). Fields a guest version lacks take their JSON-mode default.
 */
export const guestAppInfoSchema = z.object({
  app_id: str,
  instance_id: str,
  device_id: str,
  mr_aggregated: str,
  os_image_hash: str,
  compose_hash: str,
  app_cert: str,
  tcb_info: str,
  app_name: str,
  key_provider_info: str,
  vm_config: str,
});
export type GuestAppInfo = z.output<typeof guestAppInfoSchema>;

/** The guest agent's `SysInfo`: figures whose set varies by guest version, kept as reported. */
export const guestSysInfoSchema = z.record(z.string(), z.unknown());

/** The KMS's `GetAppKey` request (the guest's claims stand in for an attested quote on a host without TDX). */
export const getAppKeyRequestSchema = z.object({ api_version: num, vm_config: str });
/** The KMS's `AppKeyResponse` (bytes as hex). */
export const appKeysSchema = z.object({
  ca_cert: str,
  disk_crypt_key: str,
  env_crypt_key: str,
  k256_key: str,
  k256_signature: str,
  gateway_app_id: str,
  os_image_hash: str,
});
export type AppKeys = z.output<typeof appKeysSchema>;
/** The KMS's `GetAppEnvEncryptPubKey` request and `PublicKeyResponse`. */
export const appIdRequestSchema = z.object({ app_id: str });
export const publicKeyResponseSchema = z.object({ public_key: str, signature: str, timestamp: num, signature_v1: str });
/** The KMS's `GetMeta`. */
export const kmsMetaSchema = z.object({ ca_cert: str, allow_any_upgrade: bool, k256_pubkey: str, is_dev: bool, gateway_app_id: str });
/** A pRPC error answer (HTTP 400). */
export const prpcErrorSchema = z.object({ error: z.string() });
