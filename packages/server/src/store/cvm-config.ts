/**
 * A CVM's configuration (core's `CvmConfig`) as the `cvms` row holds it: read by the update planner,
 * written when an update is recorded (at once for a control-plane-only change, by the worker after the
 * host applied it).
 */
import type { CvmConfig } from '@opencvm/core';
import type { Queryable } from '../db/index.ts';

/** The columns `CvmConfig` is read from. */
const CONFIG_COLUMNS = `app_compose, compose_hash, encrypted_env, env_keys, user_config, vcpu, memory_mb, disk_gb, image,
  instance_type, listed, shutdown_timeout_s, allow_force_stop`;

export async function configOf(q: Queryable, cvmId: number): Promise<CvmConfig> {
  const [row] = await q.query<CvmConfig>(`SELECT ${CONFIG_COLUMNS} FROM cvms WHERE id = $1`, [cvmId]);
  return row;
}

/** Write a configuration onto the CVM record. */
export async function applyConfig(q: Queryable, cvmId: number, c: CvmConfig): Promise<void> {
  await q.query(
    `UPDATE cvms SET app_compose = $2, compose_hash = $3, encrypted_env = $4, env_keys = $5, user_config = $6, vcpu = $7,
            memory_mb = $8, disk_gb = $9, image = $10, instance_type = $11, listed = $12, shutdown_timeout_s = $13,
            allow_force_stop = $14, updated_at = now() WHERE id = $1`,
    [cvmId, c.app_compose, c.compose_hash, c.encrypted_env, JSON.stringify(c.env_keys), c.user_config, c.vcpu, c.memory_mb,
      c.disk_gb, c.image, c.instance_type, c.listed, c.shutdown_timeout_s, c.allow_force_stop],
  );
}
