public class Traces {
  static void inner() { throw new IllegalArgumentException("inner <bad>"); }
  static void outer() { try { inner(); } catch (Exception e) { throw new IllegalStateException("outer", e); } }
  public static void main(String[] a) {
    System.out.println("2026-12-01 10:00:00 INFO starting");
    try { outer(); } catch (Exception e) { System.out.println("2026-12-01 10:00:01 ERROR request failed"); e.printStackTrace(System.out); }
    Exception s = new RuntimeException("with suppressed"); s.addSuppressed(new java.io.IOException("close failed"));
    s.printStackTrace(System.out);
    System.out.println("2026-12-01 10:00:02 INFO done");
    outer();
  }
}
