//! Encryption of personal fields in commands.
//!
//! The execute command carries the application data that provider steps need, owners' SSNs
//! included. Before publishing, the gateway replaces each personal field (owner `ssn` and
//! `date_of_birth`, `bank.public_token`) with `enc:v1:<base64 of nonce and AES-256-GCM
//! ciphertext>`, bound to the tenant and application ids. Workers open them just before
//! the provider call. Streams, dead letters and their backups therefore never hold these
//! fields in clear. The 32-byte key is `security.data_key`, shared by gateways and workers.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::application::ApplicationData;

const PREFIX: &str = "enc:v1:";
const NONCE_BYTES: usize = 12;

/// A data key, parsed from its base64 form.
#[derive(Clone)]
pub struct DataKey(Aes256Gcm);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(***)")
    }
}

/// Why sealing or opening failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the data key must be 32 bytes in base64 (generate one with `dataorch data-key`)")]
    InvalidKey,
    #[error("field {0} is not sealed with this data key, or was altered")]
    CannotOpen(String),
}

impl DataKey {
    pub fn from_base64(text: &str) -> Result<DataKey, SealError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| SealError::InvalidKey)?;
        let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| SealError::InvalidKey)?;
        Ok(DataKey(cipher))
    }

    /// Returns a new random key in base64.
    pub fn generate() -> String {
        STANDARD.encode(rand_bytes::<32>())
    }

    fn seal_field(&self, value: &str, aad: &[u8]) -> String {
        let nonce = rand_bytes::<NONCE_BYTES>();
        // Encryption with a valid key and nonce size cannot fail.
        let ciphertext = self
            .0
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: value.as_bytes(),
                    aad,
                },
            )
            .unwrap_or_default();
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        format!("{PREFIX}{}", STANDARD.encode(sealed))
    }

    fn open_field(&self, value: &str, aad: &[u8], field: &str) -> Result<String, SealError> {
        let cannot = || SealError::CannotOpen(field.to_string());
        let Some(encoded) = value.strip_prefix(PREFIX) else {
            return Err(cannot());
        };
        let bytes = STANDARD.decode(encoded).map_err(|_| cannot())?;
        if bytes.len() <= NONCE_BYTES {
            return Err(cannot());
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let plain = self
            .0
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map_err(|_| cannot())?;
        String::from_utf8(plain).map_err(|_| cannot())
    }

    /// Returns a copy of `application` with every personal field sealed.
    pub fn seal(
        &self,
        application: &ApplicationData,
        tenant_id: &str,
        application_id: &str,
    ) -> ApplicationData {
        let aad = associated_data(tenant_id, application_id);
        let mut sealed = application.clone();
        for owner in &mut sealed.owners {
            owner.ssn = self.seal_field(&owner.ssn, &aad);
            owner.date_of_birth = self.seal_field(&owner.date_of_birth, &aad);
        }
        if let Some(bank) = &mut sealed.bank {
            bank.public_token = self.seal_field(&bank.public_token, &aad);
        }
        sealed
    }

    /// Returns a copy of `application` with every personal field opened.
    pub fn open(
        &self,
        application: &ApplicationData,
        tenant_id: &str,
        application_id: &str,
    ) -> Result<ApplicationData, SealError> {
        let aad = associated_data(tenant_id, application_id);
        let mut opened = application.clone();
        for (index, owner) in opened.owners.iter_mut().enumerate() {
            owner.ssn = self.open_field(&owner.ssn, &aad, &format!("owners.{index}.ssn"))?;
            owner.date_of_birth = self.open_field(
                &owner.date_of_birth,
                &aad,
                &format!("owners.{index}.date_of_birth"),
            )?;
        }
        if let Some(bank) = &mut opened.bank {
            bank.public_token = self.open_field(&bank.public_token, &aad, "bank.public_token")?;
        }
        Ok(opened)
    }
}

fn associated_data(tenant_id: &str, application_id: &str) -> Vec<u8> {
    format!("{tenant_id}\n{application_id}").into_bytes()
}

fn rand_bytes<const N: usize>() -> [u8; N] {
    use aes_gcm::aead::OsRng;
    use aes_gcm::aead::rand_core::RngCore;
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::application::tests::sample;

    #[test]
    fn seal_hides_and_open_restores() {
        let key = DataKey::from_base64(&DataKey::generate()).unwrap();
        let application = sample();
        let sealed = key.seal(&application, "t", "a");
        let text = serde_json::to_string(&sealed).unwrap();
        assert!(!text.contains(&application.owners[0].ssn), "{text}");
        assert!(
            !text.contains(&application.owners[0].date_of_birth),
            "{text}"
        );
        assert!(sealed.owners[0].ssn.starts_with(PREFIX));
        assert_eq!(key.open(&sealed, "t", "a").unwrap(), application);
    }

    #[test]
    fn open_rejects_other_application_or_key() {
        let key = DataKey::from_base64(&DataKey::generate()).unwrap();
        let other = DataKey::from_base64(&DataKey::generate()).unwrap();
        let sealed = key.seal(&sample(), "t", "a");
        assert!(key.open(&sealed, "t", "b").is_err());
        assert!(other.open(&sealed, "t", "a").is_err());
        assert!(
            key.open(&sample(), "t", "a").is_err(),
            "clear fields are not accepted"
        );
    }

    #[test]
    fn invalid_key_is_rejected() {
        assert_eq!(
            DataKey::from_base64("short").unwrap_err(),
            SealError::InvalidKey
        );
    }
}
