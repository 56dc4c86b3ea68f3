from django.db import models


class DataKey(models.Model):
    """A data-encryption key (DEK), stored only wrapped by a key-encryption key (KEK).

    `version` orders the keys (the highest is the active one that encrypts new values); `key_id` is a
    random id, so a ciphertext from another database names a key this one does not have instead of
    failing as "tampered". Both appear in every ciphertext.
    """

    version = models.PositiveIntegerField(unique=True)
    key_id = models.CharField(max_length=16, unique=True)
    kek_backend = models.CharField(max_length=8, choices=(("local", "local"), ("kms", "AWS KMS")))
    kek_id = models.CharField(max_length=2048, help_text="Local KEK id or KMS key ARN that wraps this key.")
    wrapped_key = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)
    rewrapped_at = models.DateTimeField(null=True, blank=True)
    # Upper bound of the values encrypted with this key, across processes (reserved in blocks).
    encryptions_reserved = models.BigIntegerField(default=0)
    # Set when rotation found no row on this key. The key is never deleted: a writer that encrypted
    # with it in a transaction still open may commit later, and its rows must stay readable.
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("version",)

    def __str__(self) -> str:  # names the key, never its material
        return f"data key v{self.version} ({self.key_id}, wrapped by {self.kek_backend}:{self.kek_id})"
