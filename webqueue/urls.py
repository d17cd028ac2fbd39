from django.urls import path

from webqueue import me, views

urlpatterns = [
    path("", views.queue, name="queue"),
    path("queue/cards", views.queue_cards, name="queue-cards"),
    path("me/", me.me, name="me"),
    path("me/away", me.away, name="me-away"),
    path("me/notifications", me.notifications, name="me-notifications"),
    path("escalations/<uuid:request_id>/vote", views.escalation_vote, name="escalation-vote"),
]
