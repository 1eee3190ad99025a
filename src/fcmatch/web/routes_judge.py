"""Routes of the judge side (being written)."""

from fastapi import APIRouter

router = APIRouter()
