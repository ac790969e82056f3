/**
 * Trust for unattended hosts: an organisation's offline signing key (a certificate authority, as
 * with OpenSSH), technicians' device keys kept in the keychain, the certificates that bind one to
 * the other, and the proof a technician presents inside the sealed hello, bound to the pairing's
 * transcript. It owns the key and certificate formats, their files, and the host's check. Imports
 * core only (errors, paths, credentials, text); never the session or the network.
 */
export {
  CERTIFICATE_PREFIX,
  CertificateError,
  checkCertificateSignature,
  decodeCertificate,
  formatCertificate,
  parseCertificateLine,
  signCertificate,
  type Certificate,
  type CertificateFields,
} from './certificate.js'
export { describeVerified, trustGatewayWarning, VOUCHED_BY_GATEWAY } from './describe.js'
export { fingerprint, formatPublicKey, parsePublicKey } from './keys.js'
export {
  deviceCredentialFrom,
  deviceProof,
  makeDeviceProof,
  TrustError,
  verifyDeviceProof,
  type DeviceCredential,
  type DeviceProof,
  type ProofContext,
  type TrustAnchor,
  type VerifiedTechnician,
} from './proof.js'
export {
  ensureDeviceKey,
  initCa,
  installCertificate,
  loadCertificate,
  loadDeviceCredential,
  readTrustAnchors,
  signCommandFor,
  signDeviceCertificate,
  type CaPublic,
  type DeviceKey,
  type InstalledCertificate,
  type SignedCertificate,
} from './store.js'
