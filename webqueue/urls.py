from django.urls import path

from webqueue import remember, views

urlpatterns = [
    path("", views.queue, name="queue"),
    path("queue/cards", views.queue_cards, name="queue-cards"),
    path("escalations/<uuid:request_id>/vote", views.escalation_vote, name="escalation-vote"),
    path("escalations/<uuid:request_id>/remember", remember.escalation_remember, name="escalation-remember"),
]
