/** Requests of the CVM lifecycle: restart, replicas, app instances. */
import { z } from 'zod';

const hexEnv = z.string().regex(/^(0x)?([0-9a-fA-F]{2})*$/, 'encrypted_env must be hex');

export const restartBodySchema = z
  .object({ force: z.boolean({ error: 'force must be true or false' }).optional() })
  .nullish();

/** `POST /cvms/{id}/replicas` (the CLI also sends `encrypted_env` and `compose_hash`). */
export const replicaBodySchema = z
  .object({
    node_id: z.number().int().nullish(),
    teepod_id: z.number().int().nullish(),
    encrypted_env: hexEnv.nullish(),
    compose_hash: z.string().nullish(),
  })
  .nullish();

/** `POST /apps/{app_id}/instances` (Phala's `CreateAppInstanceRequest`). */
export const instanceBodySchema = z
  .object({
    node_id: z.number().int().nullish(),
    docker_compose_file: z.string().nullish(),
    pre_launch_script: z.string().nullish(),
    encrypted_env: hexEnv.nullish(),
    compose_hash: z.string().nullish(),
    token: z.string().nullish(),
    transaction_hash: z.string().nullish(),
  })
  .nullish();

/** `X-Prepare-Only: true` asks for a commit token instead of the change (on-chain KMS flows). */
export const prepareOnlyHeaderSchema = z.object({ 'x-prepare-only': z.string().optional() });

/** `X-Compose-Hash` / `X-Transaction-Hash` confirm an on-chain KMS update (`confirmCvmPatch`). */
export const onChainConfirmationHeadersSchema = z.object({
  'x-prepare-only': z.string().optional(),
  'x-compose-hash': z.string().optional(),
  'x-transaction-hash': z.string().optional(),
});

/** `POST /cvms/{id}/commit-replica` (the `phala` CLI, after an on-chain registration). */
export const commitReplicaBodySchema = z
  .object({ token: z.string().nullish(), compose_hash: z.string().nullish(), transaction_hash: z.string().nullish() })
  .nullish();
