from django.urls import path

from webqueue import inbox_views, me, remember, views

urlpatterns = [
    path("", views.queue, name="queue"),
    path("queue/cards", views.queue_cards, name="queue-cards"),
    path("me/", me.me, name="me"),
    path("me/away", me.away, name="me-away"),
    path("me/notifications", me.notifications, name="me-notifications"),
    path("escalations/<uuid:request_id>/vote", views.escalation_vote, name="escalation-vote"),
    path("escalations/<uuid:request_id>/card", views.escalation_card, name="escalation-card"),
    path("escalations/<uuid:request_id>/", inbox_views.escalation_detail, name="escalation-detail"),
    path("escalations/<uuid:request_id>/extend", inbox_views.escalation_extend_form, name="escalation-extend-form"),
    path("escalations/batch", inbox_views.escalation_batch_form, name="escalation-batch-form"),
    path("decided/", inbox_views.decided, name="decided"),
    path("escalations/<uuid:request_id>/remember", remember.escalation_remember, name="escalation-remember"),
]
