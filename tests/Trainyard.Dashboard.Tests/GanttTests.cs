using System.Text.RegularExpressions;
using Trainyard.Core.Engine;

namespace Trainyard.Dashboard.Tests;

/// <summary>The run page's timeline bars stay inside the track whatever the attempts' clocks say.</summary>
public sealed partial class GanttTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 3, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(0, 100)] // the whole run
    [InlineData(99.9, 100)] // a last step that starts in the run's final moment (the durable 1,001-task run did this)
    [InlineData(100, 100)] // starts as the run ends
    [InlineData(103, 104)] // recorded after the run's end (a durable run's times come from two clocks)
    [InlineData(-5, 1)] // recorded before the run's start
    public void EveryBar_IsVisible_AndInsideTheTrack(double startSeconds, double endSeconds)
    {
        var run = new RunState { RunId = "r", PipelineName = "p", PipelineHash = "h", Status = RunStatus.Succeeded, CreatedAt = T0, FinishedAt = T0.AddSeconds(100) };
        var bar = new AttemptBar("done", 1, "d1", T0.AddSeconds(startSeconds), T0.AddSeconds(endSeconds), "succeeded", Cached: false);

        var html = Pages.Gantt([bar], run, T0.AddSeconds(200));

        var m = BarStyle().Match(html);
        Assert.True(m.Success, html);
        var left = double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        var width = double.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(left, 0, 100);
        Assert.InRange(width, 0.2, 100);
        Assert.True(left + width <= 100.0005, $"left {left} + width {width} overflows the track");
    }

    [GeneratedRegex(@"left:([0-9.]+)%;width:([0-9.]+)%")]
    private static partial Regex BarStyle();
}
