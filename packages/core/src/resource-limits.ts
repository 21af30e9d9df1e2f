/**
 * The vCPU, memory and disk sizes a CVM may be given, in one place. They are checked wherever a size is
 * chosen: at provision (the request's `vcpu`, `memory`, `disk_size`, or what its instance type implies) and
 * by every configuration update (`planChange`). Whether a node has room for it is a separate check.
 *
 * What dstack itself enforces (github.com/Dstack-TEE/dstack):
 * - `dstack/vmm/src/main_service.rs`, `validate_resize_request`: ResizeVm refuses a `vcpu`, `memory` or
 *   `disk_size` of 0. UpdateVm (what opencvm sends) and CreateVm check none of them, so the host would take
 *   a 4 MB VM; `apply_resource_updates` only refuses to shrink the disk. The fields are `uint32`
 *   (`dstack/vmm/rpc/proto/vmm_rpc.proto`: vcpu, memory in MB, disk_size in GB).
 * - `dstack/dstack-mr/src/sev.rs`, `MAX_VCPUS = 512`: `validate_measurement_input` refuses more vCPUs, and
 *   `verify_sev_launch` runs it, so a CVM with more can never have its launch verified. It is the one vCPU
 *   ceiling dstack states; we apply it on every platform.
 * - dstack-vmm capped the disk with `max_disk_size` in `vmm.toml` (last default 10 000 GB) until it dropped
 *   the cap in mid-2025 ("remove max disk size limit"); it has had no disk ceiling since.
 *
 * Where dstack sets no bound, ours:
 * - memory ≥ 512 MB: the guest's own services (kernel, dockerd and containerd, the guest agent, the
 *   encrypted ZFS/ext4 data disk) must fit beside the app; dstack's tools never suggest less than 1 GB
 *   (`vmm-cli.py deploy` defaults to 1024 MB, the VMM UI to 2048 MB).
 * - memory ≤ 4 TiB: more than one dstack host can give a CVM, so it refuses only unit mistakes (bytes or
 *   KB sent as MB), never a real machine.
 * - disk ≥ 10 GB: the data disk holds the docker images and volumes; 10 GB is the smallest size dstack's
 *   own CreateVm tests use (its tools default to 20 GB).
 * - disk ≤ 10 000 GB: dstack-vmm's last `max_disk_size` default.
 */
import { ApiError, ErrorCodes, type ErrorDetail } from '@opencvm/contract';

export interface ResourceLimit {
  /** the request field that carries it */
  field: 'vcpu' | 'memory' | 'disk_size';
  unit: string;
  min: number;
  max: number;
}

export const RESOURCE_LIMITS = {
  vcpu: { field: 'vcpu', unit: 'vCPUs', min: 1, max: 512 },
  memory_mb: { field: 'memory', unit: 'MB', min: 512, max: 4 * 1024 * 1024 },
  disk_gb: { field: 'disk_size', unit: 'GB', min: 10, max: 10_000 },
} as const satisfies Record<string, ResourceLimit>;

/** Sizes as a CVM's configuration holds them; absent ones are not checked. */
export interface ResourceSizes {
  vcpu?: number;
  memory_mb?: number;
  disk_gb?: number;
}

/**
 * A unit mistake worth naming: 4 sent as memory most likely meant 4 GB (`phala cvms resize --memory 4G`
 * sends 4). Not "send 4096": `phala cvms resize` retries any error whose message contains "409" (its
 * conflict test), so the fixed words of these messages never contain it.
 */
function hint(key: keyof typeof RESOURCE_LIMITS, value: number): string | null {
  const { min, max } = RESOURCE_LIMITS.memory_mb;
  if (key === 'memory_mb' && value < min && value * 1024 >= min && value * 1024 <= max) {
    return `memory is in MB (1 GB = 1024 MB): did you mean ${value} GB?`;
  }
  return null;
}

/**
 * Refuse sizes outside `RESOURCE_LIMITS` with a 422 `ERR-02-008` that names each field, its allowed range
 * and the value sent, e.g. "memory must be between 512 and 4194304 MB: got 4".
 */
export function checkResourceLimits(sizes: ResourceSizes): void {
  const details: ErrorDetail[] = [];
  const suggestions: string[] = [];
  for (const key of Object.keys(RESOURCE_LIMITS) as (keyof typeof RESOURCE_LIMITS)[]) {
    const value = sizes[key];
    if (value === undefined) continue;
    const { field, unit, min, max } = RESOURCE_LIMITS[key];
    if (value >= min && value <= max) continue;
    details.push({ field, value, message: `${field} must be between ${min} and ${max} ${unit}: got ${value}` });
    const h = hint(key, value);
    if (h) suggestions.push(h);
  }
  if (!details.length) return;
  throw new ApiError(422, ErrorCodes.INVALID_REQUEST,
    `${details.map((d) => d.message).join('; ')}.${suggestions.length ? ` ${suggestions.join(' ')}` : ''}`,
    { details, suggestions });
}
