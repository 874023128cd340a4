"""Stand-ins for the outside world that Nightline talks to: Apple, Google and the phone.

None of this runs in production. The fake APNs (``fake_apns``) and the fake FCM
(``fake_fcm``) speak the real protocols (HTTP/2 with provider JWTs; OAuth and FCM HTTP v1)
so the production clients are tested unchanged; ``fake_received`` is the one shape in which
both report what they accepted. ``virtual_device`` and ``phone`` are a clinician's phone
(keys, decryption, receipts) behind ``nightline device``; ``worked_example`` regenerates the
README's decryption example for app developers.
"""
