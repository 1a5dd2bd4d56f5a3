from django.http import HttpRequest, HttpResponse


def setup(request: HttpRequest) -> HttpResponse:
    return HttpResponse("setup")
