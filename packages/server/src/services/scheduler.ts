/**
 * Placement: which node a new CVM goes to, and which OS image it boots. Capacity is what the host
 * reported (GetMeta) minus what the CVMs already placed there reserve.
 */
import { ApiError, ErrorCodes, badRequest } from '@opencvm/core';
import type { Queryable } from '../db/index.ts';
import { placementSnapshot, type NodeImageRow, type NodeRow, type PlacementSnapshot } from '../store/nodes.ts';

export interface PlacementRequest {
  nodeId?: number | null;
  region?: string | null;
  image?: string | null;
  preferDev?: boolean | null;
  vcpu: number;
  memoryMb: number;
  gpu: boolean;
  /** a CVM already written that must not count against its node (the one being placed) */
  excluding?: number;
}

export interface Placement {
  node: NodeRow;
  image: NodeImageRow;
}

/** dstack image names carry their version: newest first ("dstack-0.5.8" before "dstack-0.5.7"). */
function byVersionDesc(a: NodeImageRow, b: NodeImageRow): number {
  const pa = a.version.split('.').map(Number);
  const pb = b.version.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pb[i] ?? 0) - (pa[i] ?? 0);
    if (d) return d;
  }
  return a.name.localeCompare(b.name);
}

/** Place on what the store says now (one statement; a request for one node reads only that node's usage). */
export async function place(q: Queryable, req: PlacementRequest): Promise<Placement> {
  return placeWith(await placementSnapshot(q, req.nodeId ?? undefined, req.excluding), req);
}

/** Place on a snapshot already read (a provision reads it along with the rest of what it checks). */
export function placeWith(snapshot: PlacementSnapshot, req: PlacementRequest): Placement {
  let nodes = snapshot.nodes;
  if (req.nodeId != null) {
    nodes = nodes.filter((n) => n.id === req.nodeId);
    if (!nodes.length) {
      throw badRequest(ErrorCodes.NODE_NOT_FOUND, `Node ${req.nodeId} does not exist or is offline: pick one from GET /teepods/available.`);
    }
    if (nodes[0].cordoned) {
      throw badRequest(ErrorCodes.HOST_CORDONED,
        `Node ${nodes[0].name} (${nodes[0].id}) is cordoned: it takes no new CVMs until an operator uncordons it. Pick another from GET /teepods/available, or leave node_id out.`);
    }
  }
  // a cordoned host keeps its CVMs but takes no new ones
  const cordoned = nodes.filter((n) => n.cordoned);
  nodes = nodes.filter((n) => !n.cordoned);
  if (req.region) {
    const inRegion = nodes.filter((n) => n.region === req.region);
    if (!inRegion.length) {
      const regions = [...new Set(nodes.map((n) => n.region))].join(', ') || 'none';
      throw badRequest(ErrorCodes.RESOURCE_NOT_AVAILABLE, `No node in region "${req.region}": available regions are ${regions}.`);
    }
    nodes = inRegion;
  }
  const images = snapshot.images;
  if (req.image && !images.some((i) => i.name === req.image)) {
    const names = [...new Set(images.map((i) => i.name))].sort().join(', ');
    throw badRequest(ErrorCodes.IMAGE_NOT_FOUND, `OS image "${req.image}" does not exist: use one of ${names} (GET /os-images).`);
  }
  if (req.gpu) {
    throw new ApiError(400, ErrorCodes.INSUFFICIENT_GPU, 'No node has a free GPU for this instance type: choose a CPU instance type.');
  }
  const usage = new Map(snapshot.usage.map((u) => [u.node_id, u]));

  const pickImage = (nodeId: number): NodeImageRow | undefined => {
    const mine = images.filter((i) => i.node_id === nodeId && !i.requires_gpu);
    if (req.image) return images.find((i) => i.node_id === nodeId && i.name === req.image);
    const dev = req.preferDev ?? true;
    return mine.filter((i) => i.is_dev === dev).sort(byVersionDesc)[0];
  };

  let shortfall: ApiError | null = null;
  const fits: { node: NodeRow; image: NodeImageRow; freeMem: number }[] = [];
  for (const node of nodes) {
    const image = pickImage(node.id);
    if (!image) {
      shortfall ??= badRequest(ErrorCodes.OS_IMAGE_NOT_COMPATIBLE,
        req.image ? `Node ${node.name} does not have OS image "${req.image}".` : `Node ${node.name} has no ${req.preferDev === false ? 'production' : 'dev'} OS image.`);
      continue;
    }
    const u = usage.get(node.id) ?? { cvms: 0, vcpu: 0, memory_mb: 0 };
    if (node.max_cvms && u.cvms + 1 > node.max_cvms) {
      shortfall = badRequest(ErrorCodes.INSUFFICIENT_SLOTS, `Node ${node.name} has no free CVM slot (${node.max_cvms} in use).`);
      continue;
    }
    if (node.max_vcpu && u.vcpu + req.vcpu > node.max_vcpu) {
      shortfall = badRequest(ErrorCodes.INSUFFICIENT_VCPU,
        `Node ${node.name} has ${node.max_vcpu - u.vcpu} vCPU free; this CVM needs ${req.vcpu}. Choose a smaller instance type.`);
      continue;
    }
    if (node.max_memory_mb && u.memory_mb + req.memoryMb > node.max_memory_mb) {
      shortfall = badRequest(ErrorCodes.INSUFFICIENT_MEMORY,
        `Node ${node.name} has ${node.max_memory_mb - u.memory_mb} MB memory free; this CVM needs ${req.memoryMb} MB.`);
      continue;
    }
    fits.push({ node, image, freeMem: node.max_memory_mb - u.memory_mb });
  }
  if (!fits.length) {
    throw shortfall ?? badRequest(ErrorCodes.RESOURCE_NOT_AVAILABLE,
      cordoned.length
        ? `No node is available: ${cordoned.map((n) => n.name).join(', ')} ${cordoned.length === 1 ? 'is' : 'are'} cordoned; uncordon one or add a host.`
        : 'No node is available: register a dstack host first.');
  }
  fits.sort((a, b) => b.freeMem - a.freeMem);
  return { node: fits[0].node, image: fits[0].image };
}
