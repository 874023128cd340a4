"""Push delivery to clinicians' phones: APNs and FCM clients, and end-to-end payload encryption.

Nothing between Nightline and the device may read patient details: PHI travels only inside
an RFC 8291 (aes128gcm) ciphertext for the device's own key (:mod:`engine.push.crypto`,
:mod:`engine.push.payload`), and is kept for re-paging only encrypted at rest
(:mod:`engine.push.message_vault`).
"""
