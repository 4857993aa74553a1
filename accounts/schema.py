"""OpenAPI description of our JWT authentication (drf-spectacular extension, loaded in ready())."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class PlatformJWTScheme(SimpleJWTScheme):
    target_class = "accounts.authentication.PlatformJWTAuthentication"
    name = "jwtAuth"
