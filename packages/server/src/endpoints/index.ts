/**
 * Every endpoint the server serves, one file each, named after the contract's operationId (kebab-case) in a
 * folder per area. `npm test` fails if this list and the contract's endpoints differ.
 */
import type { Route } from '../http/endpoint.ts';
import checkAppCvmsIsAllowed from './allowlists/check-app-cvms-is-allowed.ts';
import checkAppIsAllowed from './allowlists/check-app-is-allowed.ts';
import checkCvmIsAllowed from './allowlists/check-cvm-is-allowed.ts';
import getAppDeviceAllowlist from './allowlists/get-app-device-allowlist.ts';
import getKmsOnChainDetail from './allowlists/get-kms-on-chain-detail.ts';
import getAppCvms from './apps/get-app-cvms.ts';
import getAppFilterOptions from './apps/get-app-filter-options.ts';
import getAppInfo from './apps/get-app-info.ts';
import getAppList from './apps/get-app-list.ts';
import getCurrentUser from './auth/get-current-user.ts';
import getAppEnvEncryptPubKey from './catalog/get-app-env-encrypt-pub-key.ts';
import getAvailableNodes from './catalog/get-available-nodes.ts';
import getCvmCreateResources from './catalog/get-cvm-create-resources.ts';
import getKmsInfo from './catalog/get-kms-info.ts';
import getKmsList from './catalog/get-kms-list.ts';
import listKmsContractNodes from './catalog/list-kms-contract-nodes.ts';
import getOsImages from './catalog/get-os-images.ts';
import getWorkspaceNodes from './catalog/get-workspace-nodes.ts';
import getWorkspaceQuotas from './catalog/get-workspace-quotas.ts';
import getWorkspace from './catalog/get-workspace.ts';
import listAllInstanceTypeFamilies from './catalog/list-all-instance-type-families.ts';
import listFamilyInstanceTypes from './catalog/list-family-instance-types.ts';
import listWorkspaces from './catalog/list-workspaces.ts';
import nextAppIds from './catalog/next-app-ids.ts';
import getCvmComposeFile from './cvms/get-cvm-compose-file.ts';
import getCvmDockerCompose from './cvms/get-cvm-docker-compose.ts';
import getCvmOperation from './cvms/get-cvm-operation.ts';
import getCvmPreLaunchScript from './cvms/get-cvm-pre-launch-script.ts';
import getCvmState from './cvms/get-cvm-state.ts';
import getCvmStatusBatch from './cvms/get-cvm-status-batch.ts';
import getCvmUserConfig from './cvms/get-cvm-user-config.ts';
import getCvm from './cvms/get-cvm.ts';
import listCvmOperations from './cvms/list-cvm-operations.ts';
import listCvms from './cvms/list-cvms.ts';
import commitCvmProvision from './deploy/commit-cvm-provision.ts';
import provisionCvm from './deploy/provision-cvm.ts';
import callGuestKms from './guest-kms/call-guest-kms.ts';
import addHost from './hosts/add-host.ts';
import cordonHost from './hosts/cordon-host.ts';
import drainHost from './hosts/drain-host.ts';
import getHost from './hosts/get-host.ts';
import listHosts from './hosts/list-hosts.ts';
import patchHost from './hosts/patch-host.ts';
import refreshHost from './hosts/refresh-host.ts';
import removeHost from './hosts/remove-host.ts';
import uncordonHost from './hosts/uncordon-host.ts';
import refreshCvmInstanceIdNew from './instance-ids/refresh-cvm-instance-id-new.ts';
import refreshCvmInstanceId from './instance-ids/refresh-cvm-instance-id.ts';
import refreshCvmInstanceIdsNew from './instance-ids/refresh-cvm-instance-ids-new.ts';
import refreshCvmInstanceIds from './instance-ids/refresh-cvm-instance-ids.ts';
import checkAppBootAuth from './kms-auth/check-app-boot-auth.ts';
import checkKmsBootAuth from './kms-auth/check-kms-boot-auth.ts';
import getKmsAuthInfo from './kms-auth/get-kms-auth-info.ts';
import commitCvmReplica from './lifecycle/commit-cvm-replica.ts';
import createAppInstance from './lifecycle/create-app-instance.ts';
import deleteCvm from './lifecycle/delete-cvm.ts';
import replicateCvm from './lifecycle/replicate-cvm.ts';
import restartCvm from './lifecycle/restart-cvm.ts';
import shutdownCvm from './lifecycle/shutdown-cvm.ts';
import startCvm from './lifecycle/start-cvm.ts';
import stopCvm from './lifecycle/stop-cvm.ts';
import getContainerLog from './logs/get-container-log.ts';
import getSyslog from './logs/get-syslog.ts';
import getApiReferenceAsset from './meta/get-api-reference-asset.ts';
import getApiReference from './meta/get-api-reference.ts';
import getHealth from './meta/get-health.ts';
import getMetrics from './meta/get-metrics.ts';
import getOpenApi from './meta/get-open-api.ts';
import getCvmContainersStats from './runtime/get-cvm-containers-stats.ts';
import getCvmNetwork from './runtime/get-cvm-network.ts';
import getCvmStats from './runtime/get-cvm-stats.ts';
import createSshKey from './ssh-keys/create-ssh-key.ts';
import getAppAttestation from './cvm-attestation/get-app-attestation.ts';
import getCvmAttestation from './cvm-attestation/get-cvm-attestation.ts';
import deleteSshKey from './ssh-keys/delete-ssh-key.ts';
import importGithubProfileSshKeys from './ssh-keys/import-github-profile-ssh-keys.ts';
import listSshKeys from './ssh-keys/list-ssh-keys.ts';
import syncGithubSshKeys from './ssh-keys/sync-github-ssh-keys.ts';
import getQuoteCollateral from './attestations/get-quote-collateral.ts';
import getRawQuote from './attestations/get-raw-quote.ts';
import listRecentQuotes from './attestations/list-recent-quotes.ts';
import verifyQuote from './attestations/verify-quote.ts';
import viewQuote from './attestations/view-quote.ts';
import commitCvmComposeFileUpdate from './updates/commit-cvm-compose-file-update.ts';
import commitCvmComposeFile from './updates/commit-cvm-compose-file.ts';
import commitCvmUpdate from './updates/commit-cvm-update.ts';
import getAppRevisionDetail from './updates/get-app-revision-detail.ts';
import getAppRevisions from './updates/get-app-revisions.ts';
import getAvailableOsImages from './updates/get-available-os-images.ts';
import patchCvm from './updates/patch-cvm.ts';
import provisionCvmComposeFileUpdate from './updates/provision-cvm-compose-file-update.ts';
import rollbackAppRevision from './updates/rollback-app-revision.ts';
import batchStopCvms from './cvm-ops/batch-stop-cvms.ts';
import redeployAppRevision from './cvm-ops/redeploy-app-revision.ts';
import redeployCvmRevision from './cvm-ops/redeploy-cvm-revision.ts';
import updateCvmListed from './cvm-ops/update-cvm-listed.ts';
import updateCvmName from './cvm-ops/update-cvm-name.ts';
import updateCvmScheduledDelete from './cvm-ops/update-cvm-scheduled-delete.ts';
import checkWorkspaceSlug from './members/check-workspace-slug.ts';
import listWorkspaceMembers from './members/list-workspace-members.ts';
import updateWorkspaceMemberRole from './members/update-workspace-member-role.ts';
import removeWorkspaceMember from './members/remove-workspace-member.ts';
import leaveWorkspace from './members/leave-workspace.ts';
import createWorkspaceInvitation from './members/create-workspace-invitation.ts';
import listWorkspaceInvitations from './members/list-workspace-invitations.ts';
import createShareableInvitation from './members/create-shareable-invitation.ts';
import cancelWorkspaceInvitation from './members/cancel-workspace-invitation.ts';
import acceptInvitation from './members/accept-invitation.ts';
import adminCreateWorkspace from './admin/admin-create-workspace.ts';
import adminListWorkspaces from './admin/admin-list-workspaces.ts';
import adminCreateUser from './admin/admin-create-user.ts';
import adminListEvents from './admin/admin-list-events.ts';
import createApiToken from './tokens/create-api-token.ts';
import listApiTokens from './tokens/list-api-tokens.ts';
import refreshApiToken from './tokens/refresh-api-token.ts';
import revokeApiToken from './tokens/revoke-api-token.ts';
import updateCvmEnvs from './updates/update-cvm-envs.ts';
import updateCvmResources from './updates/update-cvm-resources.ts';
import updateCvmVisibility from './updates/update-cvm-visibility.ts';
import updateDockerCompose from './updates/update-docker-compose.ts';
import updateOsImage from './updates/update-os-image.ts';
import updatePreLaunchScript from './updates/update-pre-launch-script.ts';
import upgradeCvmCompose from './updates/upgrade-cvm-compose.ts';
import listWebhooks from './webhooks/list-webhooks.ts';
import createWebhook from './webhooks/create-webhook.ts';
import getWebhook from './webhooks/get-webhook.ts';
import updateWebhook from './webhooks/update-webhook.ts';
import deleteWebhook from './webhooks/delete-webhook.ts';
import revealWebhookSecret from './webhooks/reveal-webhook-secret.ts';
import rotateWebhookSecret from './webhooks/rotate-webhook-secret.ts';
import testWebhook from './webhooks/test-webhook.ts';
import listWebhookDeliveries from './webhooks/list-webhook-deliveries.ts';
import resendWebhookDelivery from './webhooks/resend-webhook-delivery.ts';
import getWebhookStats from './webhooks/get-webhook-stats.ts';
import getAppEvents from './events/get-app-events.ts';
import getCvmOperationStatus from './events/get-cvm-operation-status.ts';

export const routes = [
  listWebhooks,
  createWebhook,
  getWebhook,
  updateWebhook,
  deleteWebhook,
  revealWebhookSecret,
  rotateWebhookSecret,
  testWebhook,
  listWebhookDeliveries,
  resendWebhookDelivery,
  getWebhookStats,
  getAppEvents,
  getCvmOperationStatus,
  checkAppCvmsIsAllowed,
  checkAppIsAllowed,
  checkCvmIsAllowed,
  getAppDeviceAllowlist,
  getKmsOnChainDetail,
  getAppCvms,
  getAppFilterOptions,
  getAppInfo,
  getAppList,
  getCurrentUser,
  getAppEnvEncryptPubKey,
  getAvailableNodes,
  getCvmCreateResources,
  getKmsInfo,
  getKmsList,
  listKmsContractNodes,
  getOsImages,
  getWorkspaceNodes,
  getWorkspaceQuotas,
  getWorkspace,
  listAllInstanceTypeFamilies,
  listFamilyInstanceTypes,
  listWorkspaces,
  nextAppIds,
  getCvmComposeFile,
  getCvmDockerCompose,
  getCvmOperation,
  getCvmPreLaunchScript,
  getCvmState,
  getCvmStatusBatch,
  getCvmUserConfig,
  getCvm,
  listCvmOperations,
  listCvms,
  commitCvmProvision,
  provisionCvm,
  callGuestKms,
  addHost,
  cordonHost,
  drainHost,
  getHost,
  listHosts,
  patchHost,
  refreshHost,
  removeHost,
  uncordonHost,
  refreshCvmInstanceIdNew,
  refreshCvmInstanceId,
  refreshCvmInstanceIdsNew,
  refreshCvmInstanceIds,
  checkAppBootAuth,
  checkKmsBootAuth,
  getKmsAuthInfo,
  commitCvmReplica,
  createAppInstance,
  deleteCvm,
  replicateCvm,
  restartCvm,
  shutdownCvm,
  startCvm,
  stopCvm,
  getContainerLog,
  getSyslog,
  getApiReferenceAsset,
  getApiReference,
  getHealth,
  getMetrics,
  getOpenApi,
  getCvmContainersStats,
  getCvmNetwork,
  getCvmStats,
  createApiToken,
  listApiTokens,
  refreshApiToken,
  revokeApiToken,
  createSshKey,
  deleteSshKey,
  importGithubProfileSshKeys,
  listSshKeys,
  syncGithubSshKeys,
  getQuoteCollateral,
  getRawQuote,
  listRecentQuotes,
  verifyQuote,
  viewQuote,
  getAppAttestation,
  getCvmAttestation,
  commitCvmComposeFileUpdate,
  commitCvmComposeFile,
  commitCvmUpdate,
  getAppRevisionDetail,
  getAppRevisions,
  getAvailableOsImages,
  patchCvm,
  provisionCvmComposeFileUpdate,
  rollbackAppRevision,
  batchStopCvms,
  redeployAppRevision,
  redeployCvmRevision,
  updateCvmListed,
  updateCvmName,
  updateCvmScheduledDelete,
  updateCvmEnvs,
  updateCvmResources,
  updateCvmVisibility,
  updateDockerCompose,
  updateOsImage,
  updatePreLaunchScript,
  upgradeCvmCompose,
  checkWorkspaceSlug,
  listWorkspaceMembers,
  updateWorkspaceMemberRole,
  removeWorkspaceMember,
  leaveWorkspace,
  createWorkspaceInvitation,
  listWorkspaceInvitations,
  createShareableInvitation,
  cancelWorkspaceInvitation,
  acceptInvitation,
  adminCreateWorkspace,
  adminListWorkspaces,
  adminCreateUser,
  adminListEvents,
] as unknown as readonly Route[];
