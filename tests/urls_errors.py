"""Throwaway API views that fail in every way an API view can, to test the error shape."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.urls import include, path
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView


class CardSerializer(serializers.Serializer):
    amount = serializers.IntegerField(min_value=1)
    holder = serializers.DictField(child=serializers.CharField(max_length=3))


class EchoView(APIView):
    permission_classes = [AllowAny]

    def post(self, request):
        serializer = CardSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(serializer.validated_data)


class CrashView(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        raise RuntimeError("secret internal detail for 4111111111111111")


class MissingView(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        raise Http404("no such thing")


class ForbiddenView(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        raise DjangoPermissionDenied


class PrivateView(APIView):
    def get(self, request):
        return Response({"ok": True})


urlpatterns = [
    path("api/test/echo/", EchoView.as_view()),
    path("api/test/crash/", CrashView.as_view()),
    path("api/test/private/", PrivateView.as_view()),
    path("api/test/missing/", MissingView.as_view()),
    path("api/test/forbidden/", ForbiddenView.as_view()),
    path("", include("fintech.urls")),
]
