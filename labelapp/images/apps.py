from django.apps import AppConfig


class ImagesConfig(AppConfig):
    name = "labelapp.images"
    label = "images"

    def ready(self) -> None:
        from django.conf import settings
        from PIL import Image as PILImage

        # Pillow warns above this many pixels and refuses above twice as many; uploads treat the warning as an error.
        PILImage.MAX_IMAGE_PIXELS = settings.MAX_IMAGE_PIXELS
