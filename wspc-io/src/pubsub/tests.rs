use super::*;
use std::sync::atomic::AtomicUsize;

fn msg(s: &str) -> Arc<PreparedMessage> {
    Arc::new(PreparedMessage::text(s))
}

fn text_of(d: Option<Delivery>) -> String {
    match d {
        Some(Delivery::Message(m)) => String::from_utf8(m.payload().to_vec()).unwrap(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn publish_reaches_subscribers_of_the_topic_once_except_the_sender() {
    let hub = Hub::new();
    let (mut a, mut b, mut c) = (hub.subscriber(), hub.subscriber(), hub.subscriber());
    assert!(a.subscribe("room/x") && b.subscribe("room/x") && c.subscribe("room/y"));
    assert!(!a.subscribe("room/x"), "already subscribed");
    assert_eq!(hub.publish("room/x", msg("1"), None), 2);
    assert_eq!(a.publish_to_others("room/x", msg("2")), 1);
    assert_eq!(text_of(a.try_recv()), "1");
    assert!(a.try_recv().is_none());
    assert_eq!(text_of(b.try_recv()), "1");
    assert_eq!(text_of(b.try_recv()), "2");
    assert!(c.try_recv().is_none());
    assert_eq!(hub.subscriber_count("room/x"), 2);
    assert!(b.unsubscribe("room/x") && !b.unsubscribe("room/x"));
    drop(a);
    assert_eq!(hub.subscriber_count("room/x"), 0);
    assert_eq!(hub.topics(), vec!["room/y".to_string()]);
}

#[test]
fn one_frame_is_shared_by_every_subscriber() {
    let hub = Hub::new();
    let mut subs: Vec<_> = (0..3).map(|_| hub.subscriber()).collect();
    subs.iter_mut().for_each(|s| assert!(s.subscribe("t")));
    hub.publish("t", msg("hello"), None);
    let ptrs: Vec<*const u8> = subs
        .iter_mut()
        .map(|s| match s.try_recv() {
            Some(Delivery::Message(m)) => m.frame(wspc::SharedEncoding::Plain).unwrap().unwrap().as_ptr(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(ptrs.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn a_full_queue_closes_or_drops_as_configured() {
    let limits = QueueLimits { max_messages: 3, max_bytes: 1 << 20, policy: SlowPolicy::Close };
    let hub = Hub::with_limits(limits);
    let mut s = hub.subscriber();
    s.subscribe("t");
    for i in 0..10 {
        hub.publish("t", msg(&i.to_string()), None);
    }
    assert!(matches!(s.try_recv(), Some(Delivery::Overflow)));
    assert!(s.try_recv().is_none(), "nothing after an overflow");
    assert_eq!(hub.publish("t", msg("x"), None), 0);

    let hub = Hub::with_limits(QueueLimits { max_messages: 100, max_bytes: 10, policy: SlowPolicy::DropMessages });
    let mut s = hub.subscriber();
    s.subscribe("t");
    for _ in 0..5 {
        hub.publish("t", msg("abcd"), None);
    }
    assert_eq!((s.queued(), s.dropped()), (2, 3), "10 bytes hold two 4-byte messages");
    assert_eq!(text_of(s.try_recv()), "abcd");
    hub.publish("t", msg("efgh"), None);
    assert_eq!(s.queued(), 2, "room again once it reads");
}

#[test]
fn the_observer_sees_first_and_last_subscribers() {
    let hub = Hub::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    hub.set_topic_observer(Some(Arc::new(move |t: &str, held| s2.lock().unwrap().push((t.to_string(), held)))));
    let (mut a, mut b) = (hub.subscriber(), hub.subscriber());
    a.subscribe("t");
    b.subscribe("t");
    drop(a);
    drop(b);
    assert_eq!(*seen.lock().unwrap(), vec![("t".to_string(), true), ("t".to_string(), false)]);
}

#[tokio::test]
async fn recv_waits_for_a_publish() {
    let hub = Hub::new();
    let mut s = hub.subscriber();
    s.subscribe("t");
    let woke = Arc::new(AtomicUsize::new(0));
    let w = woke.clone();
    let h = hub.clone();
    let t = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        w.fetch_add(1, Ordering::SeqCst);
        h.publish("t", msg("late"), None);
    });
    assert_eq!(text_of(Some(s.recv().await)), "late");
    assert_eq!(woke.load(Ordering::SeqCst), 1);
    t.await.unwrap();
}

#[test]
fn unsubscribing_from_the_middle_keeps_the_others() {
    let hub = Hub::new();
    let mut subs: Vec<_> = (0..10).map(|_| hub.subscriber()).collect();
    subs.iter_mut().for_each(|s| assert!(s.subscribe("t")));
    for i in [3, 0, 9, 5] {
        assert!(subs[i].unsubscribe("t"));
        assert!(!subs[i].unsubscribe("t"));
    }
    assert!(subs[5].subscribe("t"), "again");
    assert_eq!(hub.publish("t", msg("m"), None), 7);
    for (i, s) in subs.iter_mut().enumerate() {
        assert_eq!(s.try_recv().is_some(), ![3, 0, 9].contains(&i), "subscriber {i}");
    }
    drop(subs);
    assert_eq!(hub.subscriber_count("t"), 0);
}
