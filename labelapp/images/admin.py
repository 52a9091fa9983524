from django.contrib import admin

from labelapp.images.models import Image


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    """Images for site admins; files are server-made names, so they are read-only here."""

    list_display = ["id", "original_name", "project", "format", "width", "height", "created_at"]
    list_filter = ["project", "format"]
    search_fields = ["original_name", "sha256"]
    readonly_fields = ["file", "thumbnail", "sha256", "format", "width", "height", "uploaded_by", "created_at"]
    raw_id_fields = ["project"]
    show_full_result_count = False
