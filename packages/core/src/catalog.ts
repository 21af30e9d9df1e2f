/**
 * The instance-type catalogue every opencvm installation starts with. Ids follow Phala Cloud's
 * (`tdx.small` is the SDK's default); prices are indicative and only shown, never charged.
 */
export interface InstanceType {
  id: string;
  name: string;
  description: string;
  vcpu: number;
  memory_mb: number;
  hourly_rate: string;
  requires_gpu: boolean;
  default_disk_size_gb: number;
  family: string;
}

const cpu = (id: string, name: string, vcpu: number, memoryGb: number, rate: string, disk = 20): InstanceType => ({
  id,
  name,
  description: `${vcpu} vCPU, ${memoryGb} GB memory, Intel TDX`,
  vcpu,
  memory_mb: memoryGb * 1024,
  hourly_rate: rate,
  requires_gpu: false,
  default_disk_size_gb: disk,
  family: 'cpu',
});

export const DEFAULT_INSTANCE_TYPES: readonly InstanceType[] = [
  cpu('tdx.small', 'Small', 1, 2, '0.058'),
  cpu('tdx.medium', 'Medium', 2, 4, '0.116'),
  cpu('tdx.large', 'Large', 4, 8, '0.232', 40),
  cpu('tdx.xlarge', 'XLarge', 8, 16, '0.464', 80),
  cpu('tdx.2xlarge', '2XLarge', 16, 32, '0.928', 160),
  {
    id: 'h200.small',
    name: 'H200 Small',
    description: '1x NVIDIA H200, 24 vCPU, 192 GB memory, Intel TDX + GPU TEE',
    vcpu: 24,
    memory_mb: 192 * 1024,
    hourly_rate: '3.500',
    requires_gpu: true,
    default_disk_size_gb: 200,
    family: 'gpu',
  },
];

export const DEFAULT_INSTANCE_TYPE = 'tdx.small';

/**
 * How many GPUs an instance type gives its CVM (none for the CPU types). Kept beside the catalogue rather
 * than in it: the catalogue's answer is Phala's `InstanceType`, which has no such field.
 */
export const INSTANCE_TYPE_GPUS: Readonly<Record<string, number>> = { 'h200.small': 1 };

/** The GPU count of an instance type (0 for a CPU type; 1 for a GPU type the table does not name). */
export function gpuCountOf(type: Pick<InstanceType, 'id' | 'requires_gpu'>): number {
  return INSTANCE_TYPE_GPUS[type.id] ?? (type.requires_gpu ? 1 : 0);
}
