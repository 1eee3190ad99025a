"""Routes of the admin side (being written)."""

from fastapi import APIRouter

router = APIRouter()
