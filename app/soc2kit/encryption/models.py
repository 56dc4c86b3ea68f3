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

    class Meta:
        ordering = ("version",)

    def __str__(self) -> str:  # names the key, never its material
        return f"data key v{self.version} ({self.key_id}, wrapped by {self.kek_backend}:{self.kek_id})"
